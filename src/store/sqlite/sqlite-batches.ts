/**
 * Batch queries on SQLite, one function per query with the database passed in (the store
 * delegates to these and wraps writes in transactions). Owns no policy: which state follows
 * which, and when, is decided by services/batches.ts and the supervisor.
 */
import type { Database } from 'better-sqlite3';
import type { BatchStatus } from '../../core/batch-state.js';
import type { MessageStatus } from '../../core/message-state.js';
import type { Content, Message, MessageEvent, Stream } from '../../core/types.js';
import type { AuditEntry, BatchRecord, BatchRejection, BatchStatusCounts, NewEvent } from '../store.js';
import { insertAudit, insertEvent } from './sqlite-events.js';
import { rollUpBatchAccepted } from './sqlite-rollups.js';
import { toEvent, toMessage, type EventRow, type MessageRow } from './sqlite-rows.js';
import { prepared } from './sqlite-statements.js';

interface BatchRow {
  id: string;
  workspace_id: string;
  status: string;
  content_id: string;
  stream: string;
  options: string;
  total: number;
  rejected: number;
  sample_size: number;
  send_at: string | null;
  status_reason: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  key_id: string;
  progress_at: string | null;
  progress_digest: string | null;
  canary_done_at: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

const MESSAGE_COLUMNS = `id, workspace_id, content_id, batch_id, recipient, sender, status, stream, subject,
  message_id_header, tags, metadata, attempts, due_at, expires_at, last_reply, bounce_class, variables, sample, created_at, updated_at`;

function toBatch(row: BatchRow): BatchRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    status: row.status as BatchStatus,
    contentId: row.content_id,
    stream: row.stream as Stream,
    options: JSON.parse(row.options) as Record<string, unknown>,
    total: row.total,
    rejected: row.rejected,
    sampleSize: row.sample_size,
    sendAt: row.send_at,
    statusReason: row.status_reason,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    keyId: row.key_id,
    progressAt: row.progress_at,
    progressDigest: row.progress_digest,
    canaryDoneAt: row.canary_done_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
  };
}

export function createBatch(db: Database, batch: BatchRecord, content: Content): void {
  prepared(db, 'INSERT INTO contents (id, workspace_id, body, created_at) VALUES (?, ?, ?, ?)').run(
    batch.contentId, batch.workspaceId, JSON.stringify(content), batch.createdAt,
  );
  prepared(
    db,
    `INSERT INTO batches (id, workspace_id, status, content_id, stream, options, total, rejected, sample_size, send_at,
       status_reason, idempotency_key, request_hash, key_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, ?, NULL, NULL, ?, ?, ?, ?)`,
  ).run(
    batch.id, batch.workspaceId, batch.status, batch.contentId, batch.stream, JSON.stringify(batch.options), batch.sendAt,
    batch.requestHash, batch.keyId, batch.createdAt, batch.updatedAt,
  );
}

/** Writes a complete batch row (a large /v1/emails or relay submission made into a batch). */
export function insertBatchRecord(db: Database, batch: BatchRecord): void {
  prepared(
    db,
    `INSERT INTO batches (id, workspace_id, status, content_id, stream, options, total, rejected, sample_size, send_at,
       status_reason, idempotency_key, request_hash, key_id, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)`,
  ).run(
    batch.id, batch.workspaceId, batch.status, batch.contentId, batch.stream, JSON.stringify(batch.options), batch.total, batch.rejected,
    batch.sampleSize, batch.sendAt, batch.keyId, batch.createdAt, batch.updatedAt,
  );
}

/** Inserts one message unless its recipient is already in the batch; true when inserted. */
function insertBatchMessage(db: Database, m: Message): boolean {
  const inserted = prepared(
    db,
    `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (batch_id, recipient) WHERE batch_id IS NOT NULL DO NOTHING`,
  ).run(
    m.id, m.workspaceId, m.contentId, m.batchId, m.recipient, m.sender, m.status, m.stream, m.subject, m.messageIdHeader,
    JSON.stringify(m.tags), JSON.stringify(m.metadata), m.attempts, m.dueAt, m.expiresAt, m.lastReply, m.bounceClass,
    m.variables === null ? null : JSON.stringify(m.variables), m.sample ? 1 : 0, m.createdAt, m.updatedAt,
  ).changes === 1;
  if (inserted) {
    for (const tag of m.tags) {
      prepared(db, 'INSERT OR IGNORE INTO message_tags (message_id, workspace_id, tag) VALUES (?, ?, ?)').run(m.id, m.workspaceId, tag);
    }
  }
  return inserted;
}

function nextRejectionSeq(db: Database, batchId: string): number {
  const last = prepared(db, 'SELECT max(seq) FROM batch_rejections WHERE batch_id = ?').pluck().get(batchId) as number | null;
  return (last ?? 0) + 1;
}

function insertRejections(db: Database, batchId: string, rejections: BatchRejection[]): void {
  let seq = nextRejectionSeq(db, batchId);
  for (const r of rejections) {
    prepared(db, 'INSERT INTO batch_rejections (batch_id, seq, row, email, reason, detail) VALUES (?, ?, ?, ?, ?, ?)').run(
      batchId, seq++, r.row, r.email, r.reason, r.detail,
    );
  }
}

export function insertBatchRows(db: Database, batchId: string, messages: Message[], rows: number[], rejections: BatchRejection[], now: string): { duplicates: number[] } {
  const duplicates: number[] = [];
  const dupRejections: BatchRejection[] = [];
  messages.forEach((m, i) => {
    if (!insertBatchMessage(db, m)) {
      const row = rows[i] ?? 0;
      duplicates.push(row);
      dupRejections.push({ row, email: m.recipient, reason: 'duplicate', detail: 'the address appears earlier in this batch' });
    }
  });
  insertRejections(db, batchId, [...rejections, ...dupRejections].sort((a, b) => a.row - b.row));
  // The heartbeat tells the janitor this upload is alive.
  prepared(db, 'UPDATE batches SET updated_at = ? WHERE id = ?').run(now, batchId);
  return { duplicates };
}

export function getBatch(db: Database, workspaceId: string, id: string): BatchRecord | null {
  const row = prepared(db, 'SELECT * FROM batches WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as BatchRow | undefined;
  return row ? toBatch(row) : null;
}

function batchById(db: Database, id: string): BatchRecord | null {
  const row = prepared(db, 'SELECT * FROM batches WHERE id = ?').get(id) as BatchRow | undefined;
  return row ? toBatch(row) : null;
}

export function findBatchByIdempotencyKey(db: Database, workspaceId: string, key: string): BatchRecord | null {
  const row = prepared(db, 'SELECT * FROM batches WHERE workspace_id = ? AND idempotency_key = ?').get(workspaceId, key) as BatchRow | undefined;
  return row ? toBatch(row) : null;
}

export function releaseBatchIdempotency(db: Database, workspaceId: string, key: string, before: string): void {
  prepared(db, 'UPDATE batches SET idempotency_key = NULL WHERE workspace_id = ? AND idempotency_key = ? AND created_at < ?').run(workspaceId, key, before);
}

export function finalizeBatch(
  db: Database,
  u: { batchId: string; status: BatchStatus; total: number; rejected: number; sampleSize: number; idempotencyKey: string | null; requestHash: string | null; now: string; event: NewEvent; audit: AuditEntry },
  workspaceId: string,
): { kind: 'ok' } | { kind: 'taken'; batch: BatchRecord } {
  if (u.idempotencyKey !== null) {
    const holder = findBatchByIdempotencyKey(db, workspaceId, u.idempotencyKey);
    if (holder && holder.id !== u.batchId) return { kind: 'taken', batch: holder };
  }
  prepared(
    db,
    `UPDATE batches SET status = ?, total = ?, rejected = ?, sample_size = ?, idempotency_key = ?, request_hash = ?, updated_at = ?,
       completed_at = CASE WHEN ? = 'completed' THEN ? ELSE NULL END
     WHERE id = ? AND status = 'validating'`,
  ).run(u.status, u.total, u.rejected, u.sampleSize, u.idempotencyKey, u.requestHash, u.now, u.status, u.now, u.batchId);
  insertEvent(db, u.event);
  // The batch's messages have no message.accepted events: stats count them here, once.
  rollUpBatchAccepted(db, u.batchId, u.now);
  insertAudit(db, u.audit);
  return { kind: 'ok' };
}

export function deleteBatch(db: Database, batchId: string): void {
  const batch = batchById(db, batchId);
  prepared(db, 'DELETE FROM message_tags WHERE message_id IN (SELECT id FROM messages WHERE batch_id = ?)').run(batchId);
  prepared(db, 'DELETE FROM messages WHERE batch_id = ?').run(batchId);
  prepared(db, 'DELETE FROM batch_rejections WHERE batch_id = ?').run(batchId);
  prepared(db, 'DELETE FROM events WHERE batch_id = ?').run(batchId);
  prepared(db, 'DELETE FROM batches WHERE id = ?').run(batchId);
  if (batch) prepared(db, 'DELETE FROM contents WHERE id = ?').run(batch.contentId);
}

export function listBatches(db: Database, workspaceId: string, options: { before?: string; limit: number }): BatchRecord[] {
  const rows = prepared(
    db,
    `SELECT * FROM batches WHERE workspace_id = @workspaceId AND status <> 'validating' AND (@before IS NULL OR id < @before)
     ORDER BY id DESC LIMIT @limit`,
  ).all({ workspaceId, before: options.before ?? null, limit: options.limit }) as BatchRow[];
  return rows.map(toBatch);
}

export function listActiveBatches(db: Database): BatchRecord[] {
  const rows = prepared(
    db,
    "SELECT * FROM batches WHERE status NOT IN ('completed', 'cancelled', 'validating') ORDER BY id",
  ).all() as BatchRow[];
  return rows.map(toBatch);
}

export function listStaleBatches(db: Database, before: string): string[] {
  return prepared(db, "SELECT id FROM batches WHERE status = 'validating' AND updated_at < ?").pluck().all(before) as string[];
}

export function countBatchMessages(db: Database, batchId: string, sampleOnly: boolean): BatchStatusCounts {
  const rows = (
    sampleOnly
      ? prepared(db, 'SELECT status, count(*) AS n FROM messages WHERE batch_id = ? AND sample = 1 GROUP BY status').all(batchId)
      : prepared(db, 'SELECT status, count(*) AS n FROM messages WHERE batch_id = ? GROUP BY status').all(batchId)
  ) as { status: MessageStatus; n: number }[];
  const counts: BatchStatusCounts = {};
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}

export function transitionBatch(
  db: Database,
  c: { batchId: string; from: readonly BatchStatus[]; to: BatchStatus; reason: string | null; now: string; event: NewEvent | null; audit: AuditEntry | null; cancelMessages?: boolean; canaryDone?: boolean },
): boolean {
  const changed = prepared(
    db,
    `UPDATE batches SET status = @to, status_reason = @reason, updated_at = @now,
       completed_at = CASE WHEN @to IN ('completed', 'cancelled') THEN @now ELSE completed_at END,
       canary_done_at = CASE WHEN @canaryDone = 1 THEN @now ELSE canary_done_at END
     WHERE id = @batchId AND status IN (SELECT value FROM json_each(@from))`,
  ).run({ to: c.to, reason: c.reason, now: c.now, batchId: c.batchId, from: JSON.stringify(c.from), canaryDone: c.canaryDone ? 1 : 0 }).changes === 1;
  if (!changed) return false;
  if (c.cancelMessages) {
    prepared(
      db,
      "UPDATE messages SET status = 'cancelled', updated_at = ? WHERE batch_id = ? AND status IN ('queued', 'deferred')",
    ).run(c.now, c.batchId);
  }
  if (c.event) insertEvent(db, c.event);
  if (c.audit) insertAudit(db, c.audit);
  return true;
}

export function getContent(db: Database, contentId: string): Content | null {
  const body = prepared(db, 'SELECT body FROM contents WHERE id = ?').pluck().get(contentId) as string | undefined;
  return body === undefined ? null : (JSON.parse(body) as Content);
}

export function updateBatchContent(db: Database, batchId: string, content: Content, options: Record<string, unknown>, now: string, audit: AuditEntry): void {
  const batch = batchById(db, batchId);
  if (!batch) return;
  prepared(db, 'UPDATE contents SET body = ? WHERE id = ?').run(JSON.stringify(content), batch.contentId);
  prepared(db, 'UPDATE batches SET options = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(options), now, batchId);
  // The subject stored on unsent messages (for listings) stays as rendered at intake; what is
  // sent is rendered from the new content at send time.
  insertAudit(db, audit);
}

export function claimProgress(db: Database, batchId: string, digest: string, notBefore: string, now: string, event: NewEvent): boolean {
  const claimed = prepared(
    db,
    `UPDATE batches SET progress_at = ?, progress_digest = ?
     WHERE id = ? AND (progress_at IS NULL OR progress_at <= ?) AND (progress_digest IS NULL OR progress_digest <> ?)`,
  ).run(now, digest, batchId, notBefore, digest).changes === 1;
  if (claimed) insertEvent(db, event);
  return claimed;
}

export function listBatchRejections(db: Database, batchId: string, options: { after?: number; limit: number }): (BatchRejection & { seq: number })[] {
  const rows = prepared(
    db,
    'SELECT seq, row, email, reason, detail FROM batch_rejections WHERE batch_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  ).all(batchId, options.after ?? 0, options.limit) as { seq: number; row: number; email: string; reason: BatchRejection['reason']; detail: string }[];
  return rows;
}

export function listBatchMessages(db: Database, batchId: string, options: { status?: MessageStatus; after?: string; limit: number }): Message[] {
  const rows = prepared(
    db,
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE batch_id = @batchId AND (@status IS NULL OR status = @status)
       AND (@after IS NULL OR id > @after) ORDER BY id LIMIT @limit`,
  ).all({ batchId, status: options.status ?? null, after: options.after ?? null, limit: options.limit }) as MessageRow[];
  return rows.map(toMessage);
}

export function listBatchEvents(db: Database, batchId: string, options: { after: number; limit: number }): MessageEvent[] {
  const rows = prepared(
    db,
    'SELECT * FROM events WHERE batch_id = ? AND message_id IS NULL AND seq > ? ORDER BY seq LIMIT ?',
  ).all(batchId, options.after, options.limit) as EventRow[];
  return rows.map(toEvent);
}

export function latestBatchEvent(db: Database, batchId: string, type: string): MessageEvent | null {
  const row = prepared(
    db,
    'SELECT * FROM events WHERE batch_id = ? AND message_id IS NULL AND type = ? ORDER BY seq DESC LIMIT 1',
  ).get(batchId, type) as EventRow | undefined;
  return row ? toEvent(row) : null;
}

export function countBatchEvents(db: Database, batchId: string, type: string): number {
  return prepared(db, 'SELECT count(*) FROM events WHERE batch_id = ? AND type = ?').pluck().get(batchId, type) as number;
}

export function listAudit(db: Database, workspaceId: string, options: { before?: number; limit: number }): (AuditEntry & { seq: number })[] {
  const rows = prepared(
    db,
    `SELECT seq, id, workspace_id, key_id, action, resource, detail, created_at FROM audit_log
     WHERE workspace_id = @workspaceId AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit`,
  ).all({ workspaceId, before: options.before ?? null, limit: options.limit }) as {
    seq: number; id: string; workspace_id: string; key_id: string | null; action: string; resource: string; detail: string; created_at: string;
  }[];
  return rows.map((r) => ({
    seq: r.seq, id: r.id, workspaceId: r.workspace_id, keyId: r.key_id, action: r.action, resource: r.resource,
    detail: JSON.parse(r.detail) as Record<string, unknown>, createdAt: r.created_at,
  }));
}
