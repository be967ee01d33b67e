/**
 * Intake: turns a validated email or a relayed raw message into durable work. One submission
 * becomes one shared content record and one message per distinct envelope recipient, committed
 * with their `message.accepted` events (and the idempotency record, if any) in one transaction.
 * When this returns, the mail is on disk.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { HeraldError, invalid } from '../core/errors.js';
import { compileParts } from '../templates/render.js';
import { decodeEncodedWords } from '../mime/decode-words.js';
import { readFromHeader } from '../mime/from-header.js';
import type { Content, Message, Stream } from '../core/types.js';
import type { BatchRecord, NewEvent, Submission } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { validateEmail, type EmailInput } from './email-input.js';
import { requireScope } from './keys.js';
import { suppressedAmong } from './suppressions.js';
import { resolveTemplateVersion } from './templates.js';
import { requireSendingDomain } from './sending-domain-policy.js';
import type { SuppressionHit } from '../core/suppression.js';
import { resolveWorkspaceTracking } from './tracking-options.js';

/** Idempotency records are honoured for this long (Resend and Stripe use 24 hours). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

export interface AcceptedMessage {
  id: string;
  to: string;
  /** Set when the address is on the suppression list: the message is recorded but never sent. */
  suppressed?: string;
}

/** The outcome of a submission, stored for idempotent replay and rendered by each intake. */
export interface SendResult {
  id: string;
  messages: AcceptedMessage[];
  sendAt: string | null;
  /** The batch the submission became, when it had more recipients than the batch threshold. */
  batchId?: string;
}

export interface SendOptions {
  idempotencyKey?: string;
  /** Give each recipient a copy addressed to them alone (uSpeedo's semantics): To shows only them. */
  individual?: boolean;
}

function hashRequest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

interface DraftMessage {
  recipient: string;
  sender: string;
  subject: string;
  stream: Stream;
  tags: string[];
  metadata: Record<string, string>;
  dueAt: Date;
  messageIdHeader?: string;
  /** On the suppression list at acceptance: accepted, recorded, never sent. */
  suppressed?: SuppressionHit;
}

/** Suppression is checked at acceptance (and again before sending): one lookup per submission. */
async function markSuppressed(deps: ServiceDeps, principal: Principal, drafts: DraftMessage[]): Promise<void> {
  const stream = drafts[0]?.stream;
  if (stream === undefined) return;
  const hits = await suppressedAmong(deps, principal.workspaceId, stream, drafts.map((d) => d.recipient));
  for (const draft of drafts) {
    const hit = hits.get(draft.recipient);
    if (hit) draft.suppressed = hit;
  }
}

function buildSubmission(
  deps: ServiceDeps,
  principal: Principal,
  content: Content,
  drafts: DraftMessage[],
  now: Date,
): { submission: Submission; result: SendResult } {
  const nowIso = now.toISOString();
  const contentId = deps.ids.next('content');
  const messages: Message[] = [];
  const events: NewEvent[] = [];
  // Past the threshold a submission is a batch: the same messages, plus progress, pause and export.
  const threshold = deps.limits.batchThreshold;
  const first = drafts[0];
  const batch: BatchRecord | undefined =
    threshold !== undefined && drafts.length > threshold && first
      ? {
          id: deps.ids.next('batch'), workspaceId: principal.workspaceId, status: 'scheduled', contentId, stream: first.stream,
          options: { source: content.kind === 'raw' ? 'smtp' : 'email', tags: first.tags }, total: drafts.length, rejected: 0, sampleSize: 0,
          sendAt: first.dueAt > now ? first.dueAt.toISOString() : null, statusReason: null, idempotencyKey: null, requestHash: null,
          keyId: principal.keyId, progressAt: null, progressDigest: null, canaryDoneAt: null, createdAt: nowIso, updatedAt: nowIso, completedAt: null,
        }
      : undefined;
  for (const draft of drafts) {
    const id = deps.ids.next('message');
    const expiresAt = new Date(draft.dueAt.getTime() + deps.retry.maxAgeSeconds * 1000).toISOString();
    messages.push({
      id,
      workspaceId: principal.workspaceId,
      contentId,
      batchId: batch?.id ?? null,
      recipient: draft.recipient,
      sender: draft.sender,
      status: draft.suppressed ? 'suppressed' : 'queued',
      stream: draft.stream,
      subject: draft.subject,
      messageIdHeader: draft.messageIdHeader ?? `<${id}@${domainOf(draft.sender)}>`,
      tags: draft.tags,
      metadata: draft.metadata,
      attempts: 0,
      dueAt: draft.dueAt.toISOString(),
      expiresAt,
      lastReply: null,
      bounceClass: null,
      variables: null,
      sample: false,
      createdAt: nowIso,
      updatedAt: nowIso,
    });
    events.push({
      id: deps.ids.next('event'),
      workspaceId: principal.workspaceId,
      type: 'message.accepted',
      messageId: id,
      batchId: batch?.id ?? null,
      recipient: draft.recipient,
      data: { key_id: principal.keyId, subject: draft.subject, tags: draft.tags, send_at: draft.dueAt > now ? draft.dueAt.toISOString() : null },
      createdAt: nowIso,
    });
    if (draft.suppressed) {
      events.push({
        id: deps.ids.next('event'), workspaceId: principal.workspaceId, type: 'message.suppressed', messageId: id, batchId: batch?.id ?? null,
        recipient: draft.recipient, data: { reason: draft.suppressed.reason, scope: draft.suppressed.scope, checked: 'acceptance', tags: draft.tags }, createdAt: nowIso,
      });
    }
  }
  const sendAt = drafts[0] && drafts[0].dueAt > now ? drafts[0].dueAt.toISOString() : null;
  const result: SendResult = {
    id: contentId,
    messages: messages.map((m, i) => ({ id: m.id, to: m.recipient, ...(drafts[i]?.suppressed ? { suppressed: drafts[i]?.suppressed?.reason } : {}) })),
    sendAt,
    ...(batch ? { batchId: batch.id } : {}),
  };
  if (batch) {
    events.push({
      id: deps.ids.next('event'), workspaceId: principal.workspaceId, type: 'batch.created', messageId: null, batchId: batch.id, recipient: null,
      data: { total: batch.total, rejected: 0, stream: batch.stream, send_at: batch.sendAt, key_id: principal.keyId, source: batch.options.source }, createdAt: nowIso,
    });
  }
  return {
    submission: { workspaceId: principal.workspaceId, content: { id: contentId, body: content }, messages, events, now: nowIso, ...(batch ? { batch } : {}) },
    result,
  };
}

async function commit(
  deps: ServiceDeps,
  built: { submission: Submission; result: SendResult },
  idempotency: { key: string; requestHash: string } | undefined,
  now: Date,
): Promise<SendResult> {
  if (idempotency) {
    built.submission.idempotency = {
      ...idempotency,
      response: { status: 202, body: built.result },
      notBefore: new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS).toISOString(),
    };
  }
  const outcome = await deps.store.accept(built.submission);
  if (outcome.kind === 'conflict') throw new HeraldError('idempotency_conflict', { key: idempotency?.key ?? '' });
  if (outcome.kind === 'replayed') return outcome.response.body as SendResult;
  deps.wake?.();
  return built.result;
}

/**
 * A send by `template_id`: the pinned version rendered once with `variables` (the same for every
 * recipient of this call; per-recipient variables are what batches are for). An explicit
 * `subject` overrides the template's.
 */
async function withTemplate(deps: ServiceDeps, principal: Principal, input: EmailInput): Promise<EmailInput> {
  if (input.template_id === undefined) return input;
  if (input.html !== undefined || input.text !== undefined) throw invalid('template_id', 'give either template_id or html/text, not both');
  const version = await resolveTemplateVersion(deps, principal.workspaceId, input.template_id);
  const render = compileParts({ subject: input.subject ?? version.subject, html: version.html ?? undefined, text: version.text ?? undefined });
  // Rendered once for every recipient: a broadcast message's own unsubscribe link is filled in
  // per recipient at send time, so the placeholder is kept (engine/message-builder.ts).
  const rendered = render({ ...input.variables, unsubscribe_url: input.stream === 'broadcast' ? '{{unsubscribe_url}}' : '' });
  const { template_id: _id, variables: _variables, ...rest } = input;
  return {
    ...rest,
    subject: rendered.subject.replace(/[\r\n]+/g, ' '),
    ...(rendered.html !== undefined ? { html: rendered.html } : {}),
    ...(rendered.text !== undefined ? { text: rendered.text } : {}),
  };
}

/** Accepts a structured email for every distinct recipient in to, cc and bcc. */
export async function sendEmail(
  deps: ServiceDeps,
  principal: Principal,
  input: EmailInput,
  options: SendOptions = {},
): Promise<SendResult> {
  requireScope(principal, 'send');
  if (options.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(options.idempotencyKey)) {
    throw new HeraldError('invalid_idempotency_key');
  }
  const now = deps.clock.now();
  const email = validateEmail(await withTemplate(deps, principal, input), now, deps.limits.apiMaxRecipients);
  await requireSendingDomain(deps, principal, email.from.email);
  const content: Content = {
    kind: 'structured',
    from: email.from,
    to: options.individual ? [] : email.to,
    cc: options.individual ? [] : email.cc,
    replyTo: email.replyTo,
    subject: email.subject,
    headers: email.headers,
    attachments: email.attachments,
    ...(email.html !== undefined ? { html: email.html } : {}),
    ...(email.text !== undefined ? { text: email.text } : {}),
  };
  // Tracking works on the html part; it is checked (and refused without --public-url) either way,
  // and the workspace's setting read only when there is html for it to apply to.
  const tracking = await resolveWorkspaceTracking(deps, principal.workspaceId, input.tracking, { readWorkspace: content.html !== undefined });
  if (tracking !== undefined && content.html !== undefined) content.tracking = tracking;
  const recipients = [...new Set([...email.to, ...email.cc, ...email.bcc].map((a) => a.email))];
  const dueAt = email.sendAt ?? now;
  const drafts = recipients.map((recipient) => ({
    recipient,
    sender: email.from.email,
    subject: email.subject,
    stream: email.stream,
    tags: email.tags,
    metadata: email.metadata,
    dueAt,
  }));
  await markSuppressed(deps, principal, drafts);
  const built = buildSubmission(deps, principal, content, drafts, now);
  const idempotency = options.idempotencyKey === undefined
    ? undefined
    : { key: options.idempotencyKey, requestHash: hashRequest({ input, individual: options.individual ?? false }) };
  return commit(deps, built, idempotency, now);
}

export interface RawSubmission {
  mailFrom: string;
  recipients: string[];
  /** The message as received, headers and body, CRLF line endings. */
  raw: Buffer;
}

const HEADER_END = /\r?\n\r?\n/;

/** Reads one unfolded header value from the raw message's header block. */
function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return match?.[1]?.replace(/\r?\n[ \t]+/g, ' ').trim();
}

/**
 * Accepts a message relayed over SMTP: delivered as it came to each envelope recipient. A missing
 * Message-ID or Date header is added once, so that retries and every recipient's copy agree.
 * Bytes that are not UTF-8 (8-bit legacy charsets) are kept as base64, so none is altered.
 */
export async function acceptRaw(deps: ServiceDeps, principal: Principal, input: RawSubmission): Promise<SendResult> {
  requireScope(principal, 'send');
  const now = deps.clock.now();
  // latin1 maps bytes one to one, so header offsets found in it are byte offsets.
  const text = input.raw.toString('latin1');
  const split = HEADER_END.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  const added: string[] = [];
  let messageIdHeader = headerValue(head, 'Message-ID');
  if (messageIdHeader === undefined) {
    messageIdHeader = `<${deps.ids.next('message')}@${domainOf(input.mailFrom || 'herald@localhost')}>`;
    added.push(`Message-ID: ${messageIdHeader}`);
  }
  if (headerValue(head, 'Date') === undefined) added.push(`Date: ${now.toUTCString().replace('GMT', '+0000')}`);
  // The added headers are ASCII: the message is UTF-8 exactly when the input is.
  const utf8 = isUtf8(input.raw);
  // The From header's domain is what DKIM and DMARC align to; the envelope sender stands in without
  // one. Herald's one reader of From headers (mime/from-header.ts) refuses what could be read two
  // ways, and the domain approved here is kept with the content: DKIM signs for exactly that one.
  const from = readFromHeader(utf8 ? Buffer.from(head, 'latin1').toString('utf8') : head);
  if (from.kind === 'invalid') throw invalid('from', from.reason);
  const approved = await requireSendingDomain(deps, principal, from.kind === 'mailbox' ? from.address : input.mailFrom);
  const fromDomain = from.kind === 'mailbox' && approved !== null ? { fromDomain: approved } : {};
  const bytes = added.length > 0 ? Buffer.concat([Buffer.from(`${added.join('\r\n')}\r\n`), input.raw]) : input.raw;
  const subjectRaw = headerValue(head, 'Subject') ?? '';
  const subject = decodeEncodedWords(utf8 ? Buffer.from(subjectRaw, 'latin1').toString('utf8') : subjectRaw);
  const drafts = [...new Set(input.recipients)].map((recipient) => ({
    recipient,
    sender: input.mailFrom,
    subject,
    stream: 'transactional' as const,
    tags: [],
    metadata: {},
    dueAt: now,
    messageIdHeader,
  }));
  const content: Content = utf8
    ? { kind: 'raw', mailFrom: input.mailFrom, raw: bytes.toString('utf8'), encoding: 'utf8', ...fromDomain }
    : { kind: 'raw', mailFrom: input.mailFrom, raw: bytes.toString('base64'), encoding: 'base64', ...fromDomain };
  await markSuppressed(deps, principal, drafts);
  const built = buildSubmission(deps, principal, content, drafts, now);
  return commit(deps, built, undefined, now);
}
