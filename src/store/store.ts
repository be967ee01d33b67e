/**
 * The Store port: everything Herald keeps, behind one interface with an adapter per backend
 * (`sqlite/`, `postgres/`, each with the same file set). Services are the only callers.
 *
 * Each method is one unit of work and, where it writes, one transaction: an acceptance commits
 * its content, messages, events and idempotency record together or not at all; a chunk of
 * delivery outcomes is recorded in one transaction. Adapters never decide policy.
 */
import type { ApiKey, Content, Message, MessageEvent, Stream, Workspace } from '../core/types.js';
import type { BatchStatus } from '../core/batch-state.js';
import type { MessageStatus } from '../core/message-state.js';

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
  now: string;
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

export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /** Applies pending migrations under a lock, so that many processes may start at once. */
  migrate(): Promise<void>;
  /** Resolves when the store answers; rejects when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;

  createWorkspace(workspace: Workspace): Promise<void>;
  listWorkspaces(): Promise<Workspace[]>;
  findWorkspace(idOrName: string): Promise<Workspace | null>;

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
}
