/**
 * The Store port: everything Herald keeps, behind one interface with an adapter per backend
 * (`sqlite/`, `postgres/`, each with the same file set). Services are the only callers.
 *
 * Each method is one unit of work and, where it writes, one transaction: an acceptance commits
 * its content, messages, events and idempotency record together or not at all; a chunk of
 * delivery outcomes is recorded in one transaction. Adapters never decide policy.
 */
import type { BucketRate } from '../core/token-bucket.js';
import type { SignalListener, SignalTopic } from './signals.js';
import type { ApiKey, Content, Message, MessageEvent, Stream, Workspace } from '../core/types.js';
import type { BatchStatus } from '../core/batch-state.js';
import type { MessageStatus } from '../core/message-state.js';
import type { SuppressionHit, SuppressionReason, SuppressionScope } from '../core/suppression.js';
import type { RollupCounts } from '../core/event-rollup.js';
import type { FrequencyVerdict, SendRequest } from '../core/frequency-cap.js';
import type { WorkspaceSettings, WorkspaceSettingsPatch } from '../core/workspace-settings.js';

/** Thrown by adapters when a unique constraint fails; services turn it into `conflict`. */
export class UniqueViolation extends Error {
  constructor(readonly constraint: string) {
    super(`unique constraint failed: ${constraint}`);
    this.name = 'UniqueViolation';
  }
}

export interface ApiKeyRecord extends ApiKey {
  secretHash: string;
}

/** An event to append, in the same transaction as the change it reports. */
export interface NewEvent {
  id: string;
  workspaceId: string;
  type: string;
  messageId: string | null;
  batchId: string | null;
  recipient: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** One intake: shared content, a message per recipient, their events, an optional idempotency key. */
export interface Submission {
  workspaceId: string;
  content: { id: string; body: Content };
  messages: Message[];
  events: NewEvent[];
  /** When the submission is large enough to be a batch: written in the same transaction. */
  batch?: BatchRecord;
  idempotency?: {
    key: string;
    requestHash: string;
    /** The response to store and to replay for a repeat within the retention window. */
    response: StoredResponse;
    /** Records older than this are ignored and replaced. */
    notBefore: string;
  };
  now: string;
}

export type AcceptOutcome =
  | { kind: 'accepted' }
  | { kind: 'replayed'; response: StoredResponse }
  | { kind: 'conflict' };

export interface MessageFilter {
  status?: MessageStatus;
  recipient?: string;
  tag?: string;
  since?: string;
  until?: string;
  /** Continue after this message id (ids sort by creation time); newest first. */
  before?: string;
  limit: number;
}

export interface ClaimRequest {
  now: string;
  /** Most messages outside batches (the transactional lane, claimed first). */
  limit: number;
  owner: string;
  leaseUntil: string;
  /** Batch lanes: for each batch the engine may send from now, how many and whether only its canary sample. */
  batches?: BatchLane[];
}

export interface BatchLane {
  batchId: string;
  limit: number;
  sampleOnly: boolean;
}

export interface ClaimedMessage extends Message {
  content: Content;
}

/** One delivery attempt's result, applied only while `owner` still holds the message's lease. */
export interface AttemptRecord {
  messageId: string;
  owner: string;
  status: MessageStatus;
  attempts: number;
  dueAt: string;
  lastReply: string | null;
  bounceClass: 'hard' | 'soft' | null;
  /** Raw MIME to keep in the outbox (capture transport). */
  captured?: string;
  /** The event reporting the transition; none for a message held back without an attempt. */
  event: NewEvent | null;
  workspaceId: string;
  /** A new expiry, when this attempt moves it (a batch message's clock starts at its first attempt). */
  expiresAt?: string;
  /** For a message that bounced in the SMTP reply (status `bounced`): its bounce report, written with the attempt. */
  bounce?: AttemptBounce;
  now: string;
}

/**
 * A bounce the engine got in the SMTP reply itself, recorded in the attempt's transaction like a
 * reported one (see FeedbackRecord): the message's bounce report (at most one per message, so
 * its soft bounces count with reported ones), and the suppression entry it causes. The entry is
 * written only over a weaker one (core/feedback-policy.ts `supersedes`, against the address's
 * entries as the transaction sees them): at once for a hard bounce, at the limit for a soft one.
 */
export interface AttemptBounce {
  /** The message's recipient (normalised), whose soft bounces are counted. */
  recipient: string;
  bounceClass: 'hard' | 'soft';
  /** `smtp`. */
  source: string;
  suppression: NewSuppression;
  /** For a soft bounce: write `suppression` when the recipient's soft bounces since `since` (this one included) reach `limit`. */
  softBounceLimit?: { since: string; limit: number };
}

export interface OutboxEntry {
  messageId: string;
  recipient: string;
  subject: string;
  size: number;
  capturedAt: string;
}

// ---- Templates (see services/templates.ts) ------------------------------------------------
// A template is a name over a sequence of immutable versions. Batches pin a (template, version),
// so versions are never changed or removed; deleting a template only hides it from the API.

/** A template's identity and its current name; the content lives in its versions. */
export interface Template {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  latestVersion: number;
  createdAt: string;
  /** When the latest version was written. */
  updatedAt: string;
  deletedAt: string | null;
}

/** One immutable version of a template's parts. */
export interface TemplateVersion {
  templateId: string;
  workspaceId: string;
  version: number;
  subject: string;
  html: string | null;
  text: string | null;
  /** Root variables the parts use, as lint found them when the version was saved. */
  variables: string[];
  createdAt: string;
}

/** A version without its bodies, for lists. */
export type TemplateVersionSummary = Omit<TemplateVersion, 'html' | 'text'>;

/** A live template with its latest version's subject and variables, for lists. */
export interface TemplateSummary extends Template {
  subject: string;
  variables: string[];
}

/** The next version of a live template, with its (possibly new) name and description. */
export interface TemplateRevision {
  workspaceId: string;
  templateId: string;
  name: string;
  description: string | null;
  parts: Pick<TemplateVersion, 'subject' | 'html' | 'text' | 'variables'>;
  now: string;
}
// ---- end of templates ---------------------------------------------------------------------

// ---- Suppressions (see services/suppressions.ts) ------------------------------------------
// One entry per (workspace, address, scope). Emails arrive normalised (domain lower-cased) and
// adapters compare them as given; which scopes hold back which stream is core/suppression.ts.

/** An address Herald must not send to, for a reason, in a scope. */
export interface Suppression {
  workspaceId: string;
  email: string;
  scope: SuppressionScope;
  reason: SuppressionReason;
  /** Who added it: `api`, `import`, or the process that decided (a bounce, a complaint). */
  source: string;
  createdAt: string;
}

/** An entry to write, with the event reporting it: appended only when the entry is new or changed. */
export interface NewSuppression extends Suppression {
  event: NewEvent;
  /** Further events about the same change (an unsubscribe's `message.unsubscribed`), appended with `event`. */
  related?: NewEvent[];
}

/** What writing one entry did, with the entry as stored (its first created_at). */
export interface SuppressionWrite {
  suppression: Suppression;
  change: 'added' | 'updated' | 'unchanged';
}

export interface SuppressionFilter {
  reason?: SuppressionReason;
  /** Continue after this entry, in (email, scope) order. */
  after?: { email: string; scope: SuppressionScope };
  limit: number;
}
// ---- end of suppressions ------------------------------------------------------------------

// ---- Feedback (see services/feedback.ts) ---------------------------------------------------
// Bounce, complaint and delivery reports about sent messages, recorded at most once per
// (message, kind) so a report delivered twice changes nothing; soft bounces are counted per
// recipient from these records. Columns: migrations/009_feedback.sql.

export type FeedbackKind = 'bounce' | 'complaint' | 'delivered';

/** One report about one message, with everything it writes in one transaction. */
export interface FeedbackRecord {
  workspaceId: string;
  messageId: string;
  kind: FeedbackKind;
  /** The message's recipient (normalised), whose soft bounces are counted. */
  recipient: string;
  bounceClass: 'hard' | 'soft' | null;
  /** Where the report came from: `dsn`, `arf`, `ses`, `sendgrid`, `mailgun`, `postmark`. */
  source: string;
  /** The message must be in one of these states, or nothing is written. */
  from: readonly MessageStatus[];
  /** The state it moves to (with `lastReply` and `bounceClass`); null leaves it (a complaint). */
  to: MessageStatus | null;
  lastReply: string | null;
  event: NewEvent;
  /** Suppression entries written with the report (hard bounce, complaint), with their events. */
  suppressions: NewSuppression[];
  /**
   * For a soft bounce: the entry written when the recipient's soft bounces recorded since `since`
   * (this one included) reach `limit`.
   */
  softBounceLimit?: { since: string; limit: number; suppression: NewSuppression };
  now: string;
}

/** What recording a report did. */
export type FeedbackOutcome =
  | { kind: 'recorded'; softBounces: number | null; suppressions: SuppressionWrite[] }
  /** The message already has a report of this kind: nothing was written. */
  | { kind: 'duplicate' }
  /** The message is not in a state the report applies to (or is gone): nothing was written. */
  | { kind: 'not_applicable'; status: MessageStatus | null };
// ---- end of feedback ----------------------------------------------------------------------

// ---- Events out (see services/events.ts, services/stats.ts) --------------------------------
// The event log read in `seq` order (within a workspace, `seq` order is commit order: a reader
// that follows it never skips an event committed late), and the stats rollups that event
// inserts maintain (core/event-rollup.ts).

/** A page of a workspace's event log: events after `after` (a seq), oldest first. */
export interface EventLogFilter {
  after: number;
  limit: number;
  /** Only these exact types, or types starting with one of `prefixes`; neither: every type. */
  types?: string[];
  /** Type prefixes such as `message.` (a `message.*` filter). */
  prefixes?: string[];
}

/** Which rollup rows to sum: one tag (`''` for all messages), hours in [from, to). */
export interface RollupQuery {
  /** ISO time at the start of an hour. */
  from: string;
  /** ISO time at the start of an hour; exclusive. */
  to: string;
  tag: string;
  stream?: Stream;
  domain?: string;
}

/** One hour's counters (hours with no rows are left out). */
export interface RollupHour {
  hour: string;
  counts: RollupCounts;
}

/** Messages not yet final by state, across all workspaces (the delivery queue's depth). */
export type QueueDepth = Record<'queued' | 'deferred' | 'sending', number>;
// ---- end of events out --------------------------------------------------------------------

// ---- Batches (see services/batches.ts) --------------------------------------------------------
export interface BatchRecord {
  id: string;
  workspaceId: string;
  status: BatchStatus;
  contentId: string;
  stream: Stream;
  /** The options the batch was submitted with, as the API shows them back. */
  options: Record<string, unknown>;
  total: number;
  rejected: number;
  sampleSize: number;
  sendAt: string | null;
  statusReason: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  keyId: string;
  progressAt: string | null;
  progressDigest: string | null;
  canaryDoneAt: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export interface BatchRejection {
  /** The row in the submission (1-based; the CSV header is row 1, NDJSON options line 1). */
  row: number;
  email: string;
  reason: 'invalid_address' | 'duplicate' | 'suppressed' | 'missing_variable' | 'invalid_row';
  detail: string;
}

export interface AuditEntry {
  id: string;
  workspaceId: string;
  keyId: string | null;
  action: string;
  resource: string;
  detail: Record<string, unknown>;
  createdAt: string;
}

export type BatchStatusCounts = Partial<Record<MessageStatus, number>>;

// ---- Webhooks (see services/webhooks.ts, events/webhooks/dispatcher.ts) ---------------------
// An endpoint follows its workspace's event log by `seq` with a durable cursor; a delivery is one
// POST of one or more events, leased while it is attempted (like a message being sent) and retried
// on its own schedule. States and columns: migrations/006_webhooks.sql.

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'exhausted';

/** A webhook endpoint: where a workspace's events go, which of them, and how they are signed. */
export interface Webhook {
  id: string;
  workspaceId: string;
  url: string;
  description: string | null;
  /** Event types and wildcards (`message.*`, `*`), as events/webhooks/event-filter.ts validated them. */
  events: string[];
  enabled: boolean;
  /** Events per request (1: one event, an object body; more: an array) and how long the first may wait. */
  batch: { maxEvents: number; maxLatencyMs: number };
  secret: string;
  /** The secret before the last rotation; it signs too until `previousSecretExpiresAt`. */
  previousSecret: string | null;
  previousSecretExpiresAt: string | null;
  /** Every event of the workspace at or below this seq has been handed to deliveries, or did not match. */
  cursor: number;
  /** Start of the current run of failed attempts; null while the endpoint succeeds. */
  failingSince: string | null;
  disabledReason: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Fields to change on an endpoint; absent fields stay as they are. */
export type WebhookPatch = Partial<
  Pick<Webhook, 'url' | 'description' | 'events' | 'enabled' | 'batch' | 'cursor' | 'failingSince' | 'disabledReason'>
>;

/** One POST of one or more events to one endpoint, with its latest attempt. */
export interface WebhookDelivery {
  /** Also the `webhook-id` header: the same on every attempt, so receivers can deduplicate. */
  id: string;
  webhookId: string;
  workspaceId: string;
  /** The events it carries, in seq order. */
  eventIds: string[];
  /** Made by a replay rather than by following the log. */
  replay: boolean;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** When it is (next) due; null once it succeeded or was exhausted. */
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  httpStatus: number | null;
  latencyMs: number | null;
  responseSnippet: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A delivery to write: pending, due at `nextAttemptAt`. */
export type NewWebhookDelivery = Pick<WebhookDelivery, 'id' | 'webhookId' | 'workspaceId' | 'eventIds' | 'replay' | 'createdAt'> & {
  nextAttemptAt: string;
};

/** What routing an event to endpoints needs of it: no data. */
export interface EventHead {
  seq: number;
  id: string;
  type: string;
  createdAt: string;
}

/** Which of a workspace's events to read next: after `afterSeq` in seq order, and created in [from, to) when given. */
export interface EventHeadRange {
  afterSeq: number;
  created?: { from: string; to: string };
}

/** Leases due deliveries for one dispatcher: per endpoint at most its `limit`, in all at most `limit`. */
export interface WebhookClaim {
  now: string;
  owner: string;
  leaseUntil: string;
  endpoints: { webhookId: string; limit: number }[];
  limit: number;
}

/** One attempt's result, applied only while `owner` still holds the delivery's lease. */
export interface WebhookAttemptRecord {
  deliveryId: string;
  webhookId: string;
  owner: string;
  status: Exclude<WebhookDeliveryStatus, 'pending'>;
  attempts: number;
  nextAttemptAt: string | null;
  httpStatus: number | null;
  latencyMs: number | null;
  responseSnippet: string;
  error: string | null;
  /** How the attempt moves the endpoint's failure run: `succeeded` ends it, `failed` starts one if none runs, null leaves it. */
  endpoint: 'succeeded' | 'failed' | null;
  now: string;
}
// ---- end of webhooks ----------------------------------------------------------------------

// ---- Sending domains (see services/domains.ts) ----------------------------------------------
// A domain of a workspace and its DKIM keys; states and sealing: migrations/008_domains.sql. Names
// arrive normalised (lower-case A-labels); private keys arrive sealed and leave sealed.

export type DomainStatus = 'pending' | 'verified';
export type DomainKeyState = 'active' | 'pending' | 'retired';
export type DomainKeyAlgorithm = 'rsa' | 'ed25519';

/** A private key sealed with AES-256-GCM (services/domain-keys.ts); binary fields base64. */
export interface SealedKey {
  ciphertext: string;
  iv: string;
  tag: string;
  /** Which master key sealed it: a fingerprint, never the key. */
  masterKeyId: string;
}

/** A DKIM key of a sending domain, without its private half. */
export interface DomainKey {
  id: string;
  domainId: string;
  selector: string;
  algorithm: DomainKeyAlgorithm;
  /** Base64 of the public key, as the DKIM record's p= tag shows it. */
  publicKey: string;
  state: DomainKeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
}

/** A key to write, with its sealed private half. */
export interface NewDomainKey extends DomainKey {
  workspaceId: string;
  sealed: SealedKey;
}

export interface SendingDomain {
  id: string;
  workspaceId: string;
  name: string;
  status: DomainStatus;
  verifiedAt: string | null;
  lastCheckedAt: string | null;
  /** The last DNS check's report, as services/dns-check.ts made it. */
  lastCheck: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
  /** Its keys: the active one, then a pending one, then retired ones, newest first. */
  keys: DomainKey[];
}

/** What a DNS check writes. */
export interface DomainCheckUpdate {
  status: DomainStatus;
  verifiedAt: string | null;
  lastCheck: Record<string, unknown>;
  /** A pending key whose record was found: made active in the same transaction, retiring the active one. */
  activateKeyId?: string;
  now: string;
}

/** The active key of a verified domain, sealed: what signers load. */
export interface SigningKeyRecord {
  keyId: string;
  domainId: string;
  workspaceId: string;
  domain: string;
  selector: string;
  algorithm: DomainKeyAlgorithm;
  sealed: SealedKey;
}
// ---- end of sending domains ---------------------------------------------------------------

// ---- Tracking and frequency caps (see services/tracking.ts, engine/frequency-check.ts) -------
// Engagement marks: which "firsts" of a message (first open, first click, first click of a link)
// have happened, claimed atomically so that two processes never both report a first. The send
// ledger: broadcast messages by recipient and time, what frequency caps count. Columns:
// migrations/010_tracking.sql.

/** An open or click to record: marks to claim, and the event to append given which were new. */
export interface EngagementWrite {
  workspaceId: string;
  messageId: string;
  /** Marks such as `open`, `click`, `click:<link hash>`; each is claimed at most once per message. */
  marks: string[];
  /** The event to append, built from the marks this call claimed first; null: append none. */
  event: (fresh: ReadonlySet<string>) => NewEvent | null;
  now: string;
}

/** A chunk of broadcast messages about to be sent, each under its cap (or none). */
export interface SendReservation {
  now: string;
  requests: SendRequest[];
}
// ---- end of tracking and frequency caps ---------------------------------------------------

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /** Applies pending migrations under a lock, so that many processes may start at once. */
  migrate(): Promise<void>;
  /** Resolves when the store answers; rejects when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Coordination across every process sharing the store (signals.ts, core/token-bucket.ts).
  /** Calls `listener` when any process appends events (`events`) or makes messages due (`due`). */
  listen(topic: SignalTopic, listener: SignalListener): () => void;
  /** Takes up to `want` tokens from the shared bucket `key` (negative: gives back); returns how many. */
  takeTokens(key: string, want: number, rate: BucketRate, now: number): Promise<number>;

  createWorkspace(workspace: Workspace): Promise<void>;
  listWorkspaces(): Promise<Workspace[]>;
  findWorkspace(idOrName: string): Promise<Workspace | null>;
  /** The workspace's settings (migrations/011_workspace_settings.sql); null when there is no such workspace. */
  getWorkspaceSettings(workspaceId: string): Promise<WorkspaceSettings | null>;
  /** Applies the patch key by key in one statement or transaction; returns the settings now stored, null when there is no such workspace. */
  updateWorkspaceSettings(workspaceId: string, patch: WorkspaceSettingsPatch): Promise<WorkspaceSettings | null>;

  insertApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKey(id: string): Promise<ApiKeyRecord | null>;
  findApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(workspaceId?: string): Promise<ApiKey[]>;
  /** Marks the key revoked; false when there is no such unrevoked key. */
  revokeApiKey(id: string, at: string): Promise<boolean>;
  /** Unrevoked keys that name SMTP source networks. */
  listSmtpNetworkKeys(): Promise<ApiKeyRecord[]>;

  accept(submission: Submission): Promise<AcceptOutcome>;
  getMessage(workspaceId: string, id: string): Promise<Message | null>;
  listMessages(workspaceId: string, filter: MessageFilter): Promise<Message[]>;
  listMessageEvents(workspaceId: string, messageId: string): Promise<MessageEvent[]>;

  /** Takes up to `limit` due messages (queued/deferred and due, or sending with an expired lease). */
  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]>;
  /** Records a chunk of attempt results in one transaction; returns how many still held their lease. */
  recordAttempts(records: AttemptRecord[]): Promise<number>;
  /** Returns the owner's leased messages to the queue (graceful shutdown). */
  releaseLeases(owner: string, now: string): Promise<number>;
  /** The earliest due time among messages outside batches and leases, for the engine's sleep (batch lanes are polled). */
  nextDueAt(): Promise<string | null>;

  listOutbox(workspaceId: string, options: { before?: string; limit: number }): Promise<OutboxEntry[]>;
  getOutboxRaw(workspaceId: string, messageId: string): Promise<string | null>;

  /** Deletes idempotency records created before `before`. */
  pruneIdempotency(before: string): Promise<number>;

  // ---- Templates: versions are immutable; deletion is soft (batches pin versions). ----------
  /** Writes a template and its version 1; throws `UniqueViolation('templates.name')` when a live template has the name. */
  createTemplate(template: Template, first: TemplateVersion): Promise<void>;
  /**
   * Writes the next version (numbered by the store, so concurrent revisions never collide) and the
   * new name and description. Null when there is no live template; `UniqueViolation` on the name.
   */
  reviseTemplate(revision: TemplateRevision): Promise<Template | null>;
  /** A live (not deleted) template. */
  findTemplate(workspaceId: string, id: string): Promise<Template | null>;
  /** Live templates, newest first, continuing after the id `before`. */
  listTemplates(workspaceId: string, options: { before?: string; limit: number }): Promise<TemplateSummary[]>;
  /** One version, also of a deleted template: what a batch pinned must stay readable. */
  getTemplateVersion(workspaceId: string, templateId: string, version: number): Promise<TemplateVersion | null>;
  /** A template's versions, newest first, continuing below the version `before`. */
  listTemplateVersions(
    workspaceId: string,
    templateId: string,
    options: { before?: number; limit: number },
  ): Promise<TemplateVersionSummary[]>;
  /** Hides a live template; false when there is none. Its versions stay. */
  deleteTemplate(workspaceId: string, id: string, at: string): Promise<boolean>;
  // ---- end of templates ---------------------------------------------------------------------

  // ---- Suppressions: one entry per (address, scope); emails arrive normalised. -----------------
  /**
   * Writes entries of one workspace in one transaction (no (email, scope) twice in a call): a new
   * entry is inserted; an existing one keeps its created_at and takes the new reason and source.
   * Each entry's event is appended in the same transaction when the entry was added or changed.
   * Returns what happened to each entry, in input order.
   */
  addSuppressions(entries: NewSuppression[]): Promise<SuppressionWrite[]>;
  /** Removes the address's entry in `scope`, or in every scope; returns how many it removed. */
  removeSuppression(workspaceId: string, email: string, scope?: SuppressionScope): Promise<number>;
  /** Entries in (email, scope) order, continuing after `after`. */
  listSuppressions(workspaceId: string, filter: SuppressionFilter): Promise<Suppression[]>;
  /**
   * Which of `emails` mail of `stream` must not go to, in one query for the whole list; when an
   * address has entries in both scopes, the `all` entry is the one reported.
   */
  findSuppressed(workspaceId: string, stream: Stream, emails: string[]): Promise<Map<string, SuppressionHit>>;
  // ---- end of suppressions ------------------------------------------------------------------

  // ---- Feedback: reports about sent messages, once per (message, kind). ------------------------
  /** A message by id in any workspace: for signed bounce addresses, which name no workspace. */
  findMessageById(id: string): Promise<Message | null>;
  /**
   * The workspace's newest message to `recipient`, among its latest 1000 to that address, whose
   * Message-ID header is `messageIdHeader` (any, when not given) and whose status is one of `statuses`.
   */
  findMessageToRecipient(
    workspaceId: string,
    recipient: string,
    options: { messageIdHeader?: string; statuses: readonly MessageStatus[] },
  ): Promise<Message | null>;
  /**
   * Records a report in one transaction: the record (unique per message and kind), the state
   * change, the event, the suppression entries and, for a soft bounce, the count and the entry at
   * the limit. Writes nothing for a duplicate or a message in another state.
   */
  recordFeedback(record: FeedbackRecord): Promise<FeedbackOutcome>;
  // ---- end of feedback ----------------------------------------------------------------------

  // ---- Batches: rows stream in under `validating`, in chunks; finalize makes the batch real. --
  /** Writes the batch (status validating) and its content. */
  createBatch(batch: BatchRecord, content: Content): Promise<void>;
  /**
   * Inserts a chunk of the batch's messages in one transaction. A recipient already in the batch
   * is not inserted; its row comes back in `duplicates`. Rejections are recorded too.
   */
  insertBatchRows(batchId: string, messages: Message[], rows: number[], rejections: BatchRejection[]): Promise<{ duplicates: number[] }>;
  /** Sets the final counts and status and, when given, claims the idempotency key; conflict when another batch holds it. */
  finalizeBatch(update: {
    batchId: string;
    status: BatchStatus;
    total: number;
    rejected: number;
    sampleSize: number;
    idempotencyKey: string | null;
    /** The hash of the request body, compared when the same idempotency key comes again. */
    requestHash: string | null;
    now: string;
    event: NewEvent;
    audit: AuditEntry;
  }): Promise<{ kind: 'ok' } | { kind: 'taken'; batch: BatchRecord }>;
  /** Removes a batch and everything it wrote (a failed or abandoned upload). */
  deleteBatch(batchId: string): Promise<void>;
  getBatch(workspaceId: string, id: string): Promise<BatchRecord | null>;
  /** The live batch holding this idempotency key. */
  findBatchByIdempotencyKey(workspaceId: string, key: string): Promise<BatchRecord | null>;
  /** Forgets idempotency keys of batches created before `before`. */
  releaseBatchIdempotency(workspaceId: string, key: string, before: string): Promise<void>;
  listBatches(workspaceId: string, options: { before?: string; limit: number }): Promise<BatchRecord[]>;
  /** Batches the supervisor and the engine look at: every state but validating, completed, cancelled. */
  listActiveBatches(): Promise<BatchRecord[]>;
  /** Batches still validating whose last write is older than `before` (abandoned uploads). */
  listStaleBatches(before: string): Promise<string[]>;
  /** Message counts by state. */
  countBatchMessages(batchId: string, options?: { sampleOnly?: boolean }): Promise<BatchStatusCounts>;
  /** Moves the batch from one of `from` to `to` (with its event and audit entry); false when it was in no state of `from`. */
  transitionBatch(change: {
    batchId: string;
    from: readonly BatchStatus[];
    to: BatchStatus;
    reason: string | null;
    now: string;
    event: NewEvent | null;
    audit: AuditEntry | null;
    /** Also cancel the batch's messages not yet handed to a transport. */
    cancelMessages?: boolean;
    /** Mark the canary finished (awaiting approval from now). */
    canaryDone?: boolean;
  }): Promise<boolean>;
  /** A content record by id (a batch's sources). */
  getContent(contentId: string): Promise<Content | null>;
  /** Points the batch at new content sources (template change while paused). */
  updateBatchContent(batchId: string, content: Content, options: Record<string, unknown>, now: string, audit: AuditEntry): Promise<void>;
  /** Records that a progress event was emitted (one per batch per interval across all workers); false when another worker did first. */
  claimProgress(batchId: string, digest: string, notBefore: string, now: string, event: NewEvent): Promise<boolean>;
  listBatchRejections(batchId: string, options: { after?: number; limit: number }): Promise<(BatchRejection & { seq: number })[]>;
  /** The batch's messages in submission order, continuing after the id `after`. */
  listBatchMessages(batchId: string, options: { status?: MessageStatus; after?: string; limit: number }): Promise<Message[]>;
  /** The batch's events after the sequence number `after` (SSE resume). */
  listBatchEvents(batchId: string, options: { after: number; limit: number }): Promise<MessageEvent[]>;
  /** Complaint events of the batch (guard rails). */
  countBatchEvents(batchId: string, type: string): Promise<number>;
  /** The batch's latest own event of a type (the last progress report). */
  latestBatchEvent(batchId: string, type: string): Promise<MessageEvent | null>;
  listAudit(workspaceId: string, options: { before?: number; limit: number }): Promise<(AuditEntry & { seq: number })[]>;

  // ---- Events out: the log in seq order, stats rollups, queue depth. ------------------------
  /** The workspace's events after the seq `filter.after`, oldest first. */
  listEvents(workspaceId: string, filter: EventLogFilter): Promise<MessageEvent[]>;
  /** The workspace's latest event seq, 0 when it has none (where a live stream starts). */
  latestEventSeq(workspaceId: string): Promise<number>;
  /** Rollup counters summed per hour over `query`'s rows, hours ascending. */
  sumRollups(workspaceId: string, query: RollupQuery): Promise<RollupHour[]>;
  /** Counts of queued, deferred and sending messages (one grouped count over unfinished mail). */
  countQueue(): Promise<QueueDepth>;
  // ---- end of events out --------------------------------------------------------------------

  // ---- Webhooks: endpoints follow the event log by seq; deliveries are leased like messages. ----
  createWebhook(webhook: Webhook): Promise<void>;
  findWebhook(workspaceId: string, id: string): Promise<Webhook | null>;
  /** A workspace's endpoints, newest first, continuing after the id `before`. */
  listWebhooks(workspaceId: string, options: { before?: string; limit: number }): Promise<Webhook[]>;
  /** Applies the patch; null when the workspace has no such endpoint. */
  updateWebhook(workspaceId: string, id: string, patch: WebhookPatch, now: string): Promise<Webhook | null>;
  /** Makes `secret` the current one; the one it replaces keeps signing until `previousExpiresAt`. */
  rotateWebhookSecret(workspaceId: string, id: string, secret: string, previousExpiresAt: string, now: string): Promise<Webhook | null>;
  /** Removes the endpoint and its deliveries; false when there is none. */
  deleteWebhook(workspaceId: string, id: string): Promise<boolean>;
  /** Enabled endpoints of every workspace: what the dispatcher follows the log for. */
  listEnabledWebhooks(): Promise<Webhook[]>;
  /** Heads of a workspace's events in `range`, in seq order (commit order within a workspace). */
  listEventHeads(workspaceId: string, range: EventHeadRange, limit: number): Promise<EventHead[]>;
  /** A workspace's events by id, in seq order (a delivery's body). */
  getEventsByIds(workspaceId: string, ids: string[]): Promise<MessageEvent[]>;
  /**
   * Moves an endpoint's cursor from `from` to `to` and writes the deliveries, in one transaction;
   * false, writing nothing, when the cursor was no longer at `from` (another process moved it).
   */
  advanceWebhookCursor(webhookId: string, from: number, to: number, deliveries: NewWebhookDelivery[]): Promise<boolean>;
  /** Writes deliveries (a replay) in one transaction. */
  insertWebhookDeliveries(deliveries: NewWebhookDelivery[]): Promise<void>;
  /** Leases due deliveries (pending or failed, due, lease free or expired); PostgreSQL skips rows another claim holds. */
  claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]>;
  /**
   * Records an attempt and moves the endpoint's failure run, in one transaction. Returns the
   * endpoint's `failingSince` after it, or null (nothing written) when the lease was lost.
   */
  recordWebhookAttempt(record: WebhookAttemptRecord): Promise<{ failingSince: string | null } | null>;
  /** Disables an enabled endpoint and appends the event reporting it; false when it was not enabled. */
  disableWebhook(webhookId: string, reason: string, event: NewEvent, now: string): Promise<boolean>;
  /** Gives up the owner's leases on these deliveries (graceful shutdown), so another process may attempt them at once. */
  releaseWebhookLeases(owner: string, deliveryIds: string[]): Promise<number>;
  /** Deliveries waiting to be sent or retried (pending or failed), across all workspaces. */
  countWebhookBacklog(): Promise<number>;
  /** An endpoint's deliveries, newest first, continuing after the id `before`. */
  listWebhookDeliveries(
    workspaceId: string,
    webhookId: string,
    options: { status?: WebhookDeliveryStatus; before?: string; limit: number },
  ): Promise<WebhookDelivery[]>;
  // ---- end of webhooks ----------------------------------------------------------------------

  // ---- Tracking and frequency caps: marks claimed once per message; the send ledger. ----------
  /**
   * Claims the marks not yet claimed for the message and appends the event the write builds from
   * them, in one transaction; returns the marks this call claimed. Of two concurrent calls for the
   * same mark, exactly one gets it.
   */
  recordEngagement(write: EngagementWrite): Promise<Set<string>>;
  /**
   * Decides a chunk of sends against the send ledger with core/frequency-cap.ts and writes the
   * allowed ones, in one transaction under a lock per recipient, so that workers deciding at once
   * never both take the last place under a cap.
   */
  reserveSends(reservation: SendReservation): Promise<Map<string, FrequencyVerdict>>;
  /** Forgets ledger rows older than `before` (longer ago than any cap's window); returns how many. */
  pruneSendLedger(before: string): Promise<number>;
  // ---- end of tracking and frequency caps -----------------------------------------------------

  // ---- Sending domains: names arrive normalised; private keys arrive and leave sealed. --------
  /** Writes a pending domain and its first, active key; `UniqueViolation('domains.name')` when the workspace has the name. */
  createDomain(domain: Omit<SendingDomain, 'keys'>, key: NewDomainKey): Promise<void>;
  findDomain(workspaceId: string, id: string): Promise<SendingDomain | null>;
  findDomainByName(workspaceId: string, name: string): Promise<SendingDomain | null>;
  /** A workspace's domains, newest first, continuing after the id `before`. */
  listDomains(workspaceId: string, options: { before?: string; limit: number }): Promise<SendingDomain[]>;
  /** Records a check (activating a published pending key) in one transaction; null when there is no such domain. */
  recordDomainCheck(workspaceId: string, id: string, update: DomainCheckUpdate): Promise<SendingDomain | null>;
  /**
   * Adds a pending key beside the active one; `UniqueViolation('domain_keys.pending')` when one is
   * pending already, `UniqueViolation('domain_keys.selector')` when the domain has the selector.
   */
  addDomainKey(key: NewDomainKey): Promise<void>;
  /** Makes a pending key active and retires the active one, erasing its private half; false when the key is not pending. */
  activateDomainKey(workspaceId: string, domainId: string, keyId: string, now: string): Promise<boolean>;
  /** Removes a pending key (an abandoned rotation); false when it is not pending. */
  removePendingDomainKey(workspaceId: string, domainId: string, keyId: string): Promise<boolean>;
  /** Removes a domain and its keys; false when there is none. */
  deleteDomain(workspaceId: string, id: string): Promise<boolean>;
  /** The active keys of verified domains of every workspace, sealed. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** A cheap stamp that changes whenever `listSigningKeys` may answer differently (signers poll it). */
  signingKeysVersion(): Promise<string>;
  // ---- end of sending domains ---------------------------------------------------------------
}
