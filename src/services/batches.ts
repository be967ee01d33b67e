/**
 * Batch intake: one call, N recipients, streamed. Rows are validated one by one (address,
 * variables the template needs) and committed in chunks while the batch is `validating`, which
 * no one can send from; duplicates are refused by the store, so memory stays flat whatever the
 * list's size. Only when every row is committed does the batch become `scheduled` and the call
 * answer 202. A failed upload deletes what it wrote, and an abandoned one (the process died) is
 * deleted by the janitor: a batch exists whole or not at all.
 *
 * Idempotency: the same key with the same body (hashed as it streams) answers the same batch
 * and sends nothing twice; with another body, 409.
 */
import { isValidAddress, normaliseAddress } from '../core/address.js';
import { HeraldError } from '../core/errors.js';
import type { Message } from '../core/types.js';
import { compileParts } from '../templates/render.js';
import type { AuditEntry, BatchRecord, BatchRejection, NewEvent } from '../store/store.js';
import { validateBatchOptions, type BatchOptionsInput, type ValidBatchOptions } from './batch-options.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { suppressedAmong } from './suppressions.js';
import { IDEMPOTENCY_WINDOW_MS } from './send.js';
import { requireSendingDomain } from './sending-domain-policy.js';

/** One recipient row as an intake form delivers it; `error` when the form itself could not read it. */
export interface RecipientRow {
  row: number;
  email?: unknown;
  name?: unknown;
  variables?: unknown;
  metadata?: unknown;
  error?: string;
}

export interface BatchSubmission {
  options: BatchOptionsInput;
  recipients: AsyncIterable<RecipientRow>;
  idempotencyKey?: string;
  /** The hash of the whole request body, known once the recipients are read to the end. */
  requestHash: () => string;
}

export interface BatchIntakeLimits {
  maxRecipients: number;
  chunk: number;
}

export const DEFAULT_INTAKE_LIMITS: BatchIntakeLimits = Object.freeze({ maxRecipients: 10_000_000, chunk: 2000 });

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

export function auditEntry(deps: ServiceDeps, principal: Principal, action: string, batchId: string, detail: Record<string, unknown> = {}): AuditEntry {
  return {
    id: deps.ids.next('event'),
    workspaceId: principal.workspaceId,
    keyId: principal.keyId,
    action,
    resource: batchId,
    detail,
    createdAt: deps.clock.now().toISOString(),
  };
}

export function batchEvent(deps: ServiceDeps, batch: Pick<BatchRecord, 'id' | 'workspaceId'>, type: string, data: Record<string, unknown>): NewEvent {
  return {
    id: deps.ids.next('event'),
    workspaceId: batch.workspaceId,
    type,
    messageId: null,
    batchId: batch.id,
    recipient: null,
    data,
    createdAt: deps.clock.now().toISOString(),
  };
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

function plainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type RowVerdict = { ok: true; email: string; name: string | undefined; variables: Record<string, unknown>; metadata: Record<string, string> } | { ok: false; rejection: BatchRejection };

/** Checks one row against the batch's rules; fail_batch turns a missing variable into an error. */
function checkRow(row: RecipientRow, options: ValidBatchOptions): RowVerdict {
  const raw = typeof row.email === 'string' ? row.email.trim() : '';
  const reject = (reason: BatchRejection['reason'], detail: string): RowVerdict => ({ ok: false, rejection: { row: row.row, email: raw.slice(0, 320), reason, detail } });
  if (row.error !== undefined) return reject('invalid_row', row.error);
  if (typeof row.email !== 'string') return reject('invalid_address', 'email is missing');
  if (!isValidAddress(raw)) return reject('invalid_address', `"${raw.slice(0, 100)}" is not a valid email address`);
  if (row.variables !== undefined && !plainObject(row.variables)) return reject('invalid_row', 'variables must be an object');
  if (row.metadata !== undefined && !plainObject(row.metadata)) return reject('invalid_row', 'metadata must be an object');
  if (row.name !== undefined && typeof row.name !== 'string') return reject('invalid_row', 'name must be a string');
  if (typeof row.name === 'string' && /[\r\n]/.test(row.name)) return reject('invalid_row', 'name must not contain line breaks');
  const variables: Record<string, unknown> = { ...(row.variables as Record<string, unknown> | undefined) };
  if (typeof row.name === 'string' && row.name !== '') variables.name ??= row.name;
  const missing = options.requiredVariables.filter((name) => variables[name] === undefined || variables[name] === null);
  if (missing.length > 0 && options.onMissingVariable !== 'render_empty') {
    if (options.onMissingVariable === 'fail_batch') {
      throw new HeraldError('invalid_batch_row', { row: row.row, reason: `missing variable ${missing.join(', ')} (policies.on_missing_variable is fail_batch)` });
    }
    return reject('missing_variable', `missing ${missing.join(', ')}`);
  }
  const metadata: Record<string, string> = { ...options.metadata };
  for (const [key, value] of Object.entries((row.metadata as Record<string, unknown> | undefined) ?? {})) metadata[key] = String(value);
  return { ok: true, email: normaliseAddress(raw), name: typeof row.name === 'string' && row.name !== '' ? row.name : undefined, variables, metadata };
}

export interface BatchCreated {
  batch: BatchRecord;
  /** True when an earlier call with the same Idempotency-Key and body made this batch. */
  replayed: boolean;
}

/** Reads the recipients to the end without writing anything (a replay must still hash the body). */
async function drain(rows: AsyncIterable<RecipientRow>): Promise<void> {
  for await (const _row of rows) {
    // nothing to keep
  }
}

async function replayOrConflict(deps: ServiceDeps, existing: BatchRecord, submission: BatchSubmission): Promise<BatchCreated> {
  if (existing.requestHash !== submission.requestHash()) {
    throw new HeraldError('idempotency_conflict', { key: submission.idempotencyKey ?? '' });
  }
  return { batch: existing, replayed: true };
}

export async function createBatch(
  deps: ServiceDeps,
  principal: Principal,
  submission: BatchSubmission,
  limits: BatchIntakeLimits = DEFAULT_INTAKE_LIMITS,
): Promise<BatchCreated> {
  requireScope(principal, 'send');
  const key = submission.idempotencyKey;
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) throw new HeraldError('invalid_idempotency_key');
  const now = deps.clock.now();
  const options = await validateBatchOptions(deps, principal.workspaceId, submission.options, now);
  await requireSendingDomain(deps, principal, options.from.email);
  if (key !== undefined) {
    await deps.store.releaseBatchIdempotency(principal.workspaceId, key, new Date(now.getTime() - IDEMPOTENCY_WINDOW_MS).toISOString());
    const existing = await deps.store.findBatchByIdempotencyKey(principal.workspaceId, key);
    if (existing) {
      await drain(submission.recipients);
      return replayOrConflict(deps, existing, submission);
    }
  }
  const batchId = deps.ids.next('batch');
  const nowIso = now.toISOString();
  const record: BatchRecord = {
    id: batchId, workspaceId: principal.workspaceId, status: 'validating', contentId: deps.ids.next('content'), stream: options.stream,
    options: options.shown, total: 0, rejected: 0, sampleSize: 0, sendAt: options.sendAt?.toISOString() ?? null, statusReason: null,
    idempotencyKey: null, requestHash: null, keyId: principal.keyId, progressAt: null, progressDigest: null, canaryDoneAt: null,
    createdAt: nowIso, updatedAt: nowIso, completedAt: null,
  };
  await deps.store.createBatch(record, options.content);
  try {
    const counts = await insertRows(deps, principal, record, options, submission.recipients, limits);
    const requestHash = submission.requestHash();
    const status = counts.accepted === 0 ? 'completed' : 'scheduled';
    const finalized = await deps.store.finalizeBatch({
      batchId, status, total: counts.accepted, rejected: counts.rejected, sampleSize: counts.sample,
      idempotencyKey: key ?? null, requestHash, now: deps.clock.now().toISOString(),
      event: batchEvent(deps, record, 'batch.created', { total: counts.accepted, rejected: counts.rejected, stream: options.stream, send_at: record.sendAt, key_id: principal.keyId }),
      audit: auditEntry(deps, principal, 'batch.create', batchId, { total: counts.accepted, rejected: counts.rejected }),
    });
    if (finalized.kind === 'taken') {
      // Another call with the same key finished first: ours never existed.
      await deps.store.deleteBatch(batchId);
      return replayOrConflict(deps, finalized.batch, { ...submission, requestHash: () => requestHash });
    }
    deps.wake?.();
    const batch = await deps.store.getBatch(principal.workspaceId, batchId);
    if (!batch) throw new HeraldError('not_found', { resource: 'batch', id: batchId });
    return { batch, replayed: false };
  } catch (error) {
    await deps.store.deleteBatch(batchId).catch(() => undefined);
    throw error;
  }
}

async function insertRows(
  deps: ServiceDeps,
  principal: Principal,
  batch: BatchRecord,
  options: ValidBatchOptions,
  rows: AsyncIterable<RecipientRow>,
  limits: BatchIntakeLimits,
): Promise<{ accepted: number; rejected: number; sample: number }> {
  const renderSubject = compileParts({ subject: options.content.subject, text: '' });
  const dueAt = (options.sendAt ?? deps.clock.now()).toISOString();
  const expiresAt = new Date((options.sendAt ?? deps.clock.now()).getTime() + deps.retry.maxAgeSeconds * 1000).toISOString();
  const senderDomain = domainOf(options.from.email);
  let messages: Message[] = [];
  let rowNumbers: number[] = [];
  let rejections: BatchRejection[] = [];
  let accepted = 0;
  let rejected = 0;
  let sample = 0;
  let seen = 0;
  let queued = 0;
  /** Writes one chunk: suppressed addresses become rejections, duplicates come back from the store. */
  const write = async (chunk: Message[], chunkRows: number[], chunkRejections: BatchRejection[]) => {
    // Addresses on the suppression list are refused here, and checked again before sending.
    const hits = await suppressedAmong(deps, principal.workspaceId, options.stream, chunk.map((m) => m.recipient));
    if (hits.size > 0) {
      const keep: Message[] = [];
      const keepRows: number[] = [];
      chunk.forEach((m, i) => {
        const hit = hits.get(m.recipient);
        if (hit) chunkRejections.push({ row: chunkRows[i] ?? 0, email: m.recipient, reason: 'suppressed', detail: `on the suppression list (${hit.reason}, scope ${hit.scope})` });
        else {
          keep.push(m);
          keepRows.push(chunkRows[i] ?? 0);
        }
      });
      chunk = keep;
      chunkRows = keepRows;
      chunkRejections.sort((a, b) => a.row - b.row);
    }
    const { duplicates } = await deps.store.insertBatchRows(batch.id, chunk, chunkRows, chunkRejections);
    const duplicateRows = new Set(duplicates);
    for (let i = 0; i < chunk.length; i++) {
      const m = chunk[i] as Message;
      if (duplicateRows.has(chunkRows[i] ?? -1)) {
        rejected += 1;
      } else {
        accepted += 1;
        if (m.sample) sample += 1;
      }
    }
    rejected += chunkRejections.length;
  };
  // One chunk is written while the next is read and checked, so parsing and the store overlap.
  let writing: Promise<void> | null = null;
  const flush = async () => {
    if (writing) await writing;
    writing = null;
    if (messages.length === 0 && rejections.length === 0) return;
    const pending = write(messages, rowNumbers, rejections);
    // Its failure surfaces at the next flush; until then it must not count as unhandled.
    pending.catch(() => undefined);
    writing = pending;
    messages = [];
    rowNumbers = [];
    rejections = [];
  };
  const nowIso = deps.clock.now().toISOString();
  try {
    for await (const row of rows) {
      seen += 1;
      if (seen > limits.maxRecipients) throw new HeraldError('batch_too_large', { limit: `${limits.maxRecipients} recipients` });
      const verdict = checkRow(row, options);
      if (!verdict.ok) {
        rejections.push(verdict.rejection);
      } else {
        const id = deps.ids.next('message');
        // The first recipient is always in a canary's sample, so even a tiny batch has one.
        const inSample = options.canary !== null && (queued === 0 || Math.random() * 100 < options.canary.percent);
        queued += 1;
        messages.push({
          id, workspaceId: principal.workspaceId, contentId: batch.contentId, batchId: batch.id, recipient: verdict.email,
          sender: options.from.email, status: 'queued', stream: options.stream,
          subject: renderSubject({ ...verdict.variables, email: verdict.email }).subject.replace(/[\r\n]+/g, ' ').slice(0, 998),
          messageIdHeader: `<${id}@${senderDomain}>`, tags: options.tags, metadata: verdict.metadata, attempts: 0, dueAt, expiresAt,
          lastReply: null, bounceClass: null, variables: verdict.variables, sample: inSample, createdAt: nowIso, updatedAt: nowIso,
        });
        rowNumbers.push(row.row);
      }
      if (messages.length + rejections.length >= limits.chunk) await flush();
    }
    await flush();
  } finally {
    // Whatever happened to the upload, no write outlives it: the caller deletes the batch next.
    if (writing) await (writing as Promise<void>).catch(() => undefined);
  }
  if (writing) await writing;
  return { accepted, rejected, sample };
}
