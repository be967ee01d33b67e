/**
 * Batch queries on PostgreSQL, one function per query with the client passed in (the store
 * delegates to these and runs each write in one transaction; `finalizeBatch` needs that
 * transaction for its savepoint). Bulk writes are one statement over arrays (`unnest`), so a
 * chunk of thousands of rows costs a few round trips. Owns no policy: which state follows which,
 * and when, is decided by services/batches.ts and the supervisor.
 */
import type pg from 'pg';
import type { BatchStatus } from '../../core/batch-state.js';
import type { MessageStatus } from '../../core/message-state.js';
import type { Content, Message, MessageEvent, Stream } from '../../core/types.js';
import type { AuditEntry, BatchRecord, BatchRejection, BatchStatusCounts, NewEvent, Store } from '../store.js';
import { insertAudit, insertEvents } from './postgres-events.js';
import { rollUpBatchAccepted } from './postgres-rollups.js';
import { MESSAGE_ARRAY_TYPES, MESSAGE_COLUMNS, iso, isoOrNull, messageArrays, toEvent, toMessage, type EventRow, type MessageRow } from './postgres-rows.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

interface BatchRow {
  id: string;
  workspace_id: string;
  status: string;
  content_id: string;
  stream: string;
  options: Record<string, unknown>;
  total: number;
  rejected: number;
  sample_size: number;
  send_at: Date | null;
  status_reason: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  key_id: string;
  progress_at: Date | null;
  progress_digest: string | null;
  canary_done_at: Date | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

function toBatch(row: BatchRow): BatchRecord {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    status: row.status as BatchStatus,
    contentId: row.content_id,
    stream: row.stream as Stream,
    options: row.options,
    total: row.total,
    rejected: row.rejected,
    sampleSize: row.sample_size,
    sendAt: isoOrNull(row.send_at),
    statusReason: row.status_reason,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    keyId: row.key_id,
    progressAt: isoOrNull(row.progress_at),
    progressDigest: row.progress_digest,
    canaryDoneAt: isoOrNull(row.canary_done_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    completedAt: isoOrNull(row.completed_at),
  };
}

function isUniqueError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === '23505';
}

export async function createBatch(client: Queryable, batch: BatchRecord, content: Content): Promise<void> {
  await client.query('INSERT INTO contents (id, workspace_id, body, created_at) VALUES ($1, $2, $3, $4)', [
    batch.contentId, batch.workspaceId, JSON.stringify(content), batch.createdAt,
  ]);
  await client.query(
    `INSERT INTO batches (id, workspace_id, status, content_id, stream, options, total, rejected, sample_size, send_at,
       status_reason, idempotency_key, request_hash, key_id, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, $7, NULL, NULL, $8, $9, $10, $11)`,
    [
      batch.id, batch.workspaceId, batch.status, batch.contentId, batch.stream, JSON.stringify(batch.options), batch.sendAt,
      batch.requestHash, batch.keyId, batch.createdAt, batch.updatedAt,
    ],
  );
}

/** Writes a complete batch row (a large /v1/emails or relay submission made into a batch). */
export async function insertBatchRecord(client: Queryable, batch: BatchRecord): Promise<void> {
  await client.query(
    `INSERT INTO batches (id, workspace_id, status, content_id, stream, options, total, rejected, sample_size, send_at,
       status_reason, idempotency_key, request_hash, key_id, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, $11, $12, $13)`,
    [
      batch.id, batch.workspaceId, batch.status, batch.contentId, batch.stream, JSON.stringify(batch.options), batch.total, batch.rejected,
      batch.sampleSize, batch.sendAt, batch.keyId, batch.createdAt, batch.updatedAt,
    ],
  );
}

const INSERT_BATCH_MESSAGES = `INSERT INTO messages (${MESSAGE_COLUMNS})
  SELECT ${MESSAGE_COLUMNS}
  FROM unnest(${MESSAGE_ARRAY_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')}) WITH ORDINALITY AS r(${MESSAGE_COLUMNS}, ord)
  ORDER BY ord
  ON CONFLICT (batch_id, recipient) WHERE batch_id IS NOT NULL DO NOTHING
  RETURNING id`;

/** Appends rejections after the batch's last one, numbered in array order. */
async function insertRejections(client: Queryable, batchId: string, rejections: BatchRejection[]): Promise<void> {
  if (rejections.length === 0) return;
  await client.query(
    `INSERT INTO batch_rejections (batch_id, seq, row, email, reason, detail)
     SELECT $1, coalesce((SELECT max(seq) FROM batch_rejections WHERE batch_id = $1), 0) + r.ord, r.row, r.email, r.reason, r.detail
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS r(row, email, reason, detail, ord)`,
    [batchId, rejections.map((r) => r.row), rejections.map((r) => r.email), rejections.map((r) => r.reason), rejections.map((r) => r.detail)],
  );
}

export async function insertBatchRows(client: Queryable, batchId: string, messages: Message[], rows: number[], rejections: BatchRejection[], now: string): Promise<{ duplicates: number[] }> {
  // The heartbeat tells the janitor this upload is alive; it also takes the batch's row lock, so
  // two chunks of one batch never number their rejections at the same time.
  await client.query('UPDATE batches SET updated_at = $2 WHERE id = $1', [batchId, now]);
  const duplicates: number[] = [];
  const dupRejections: BatchRejection[] = [];
  if (messages.length > 0) {
    // In submission order, so that of two rows with one recipient the first is kept.
    const { rows: inserted } = await client.query<{ id: string }>(INSERT_BATCH_MESSAGES, messageArrays(messages));
    const kept = new Set(inserted.map((row) => row.id));
    messages.forEach((m, i) => {
      if (kept.has(m.id)) return;
      const row = rows[i] ?? 0;
      duplicates.push(row);
      dupRejections.push({ row, email: m.recipient, reason: 'duplicate', detail: 'the address appears earlier in this batch' });
    });
  }
  await insertRejections(client, batchId, [...rejections, ...dupRejections].sort((a, b) => a.row - b.row));
  return { duplicates };
}

export async function getBatch(client: Queryable, workspaceId: string, id: string): Promise<BatchRecord | null> {
  const { rows } = await client.query<BatchRow>('SELECT * FROM batches WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  return rows[0] ? toBatch(rows[0]) : null;
}

export async function findBatchByIdempotencyKey(client: Queryable, workspaceId: string, key: string): Promise<BatchRecord | null> {
  const { rows } = await client.query<BatchRow>('SELECT * FROM batches WHERE workspace_id = $1 AND idempotency_key = $2', [workspaceId, key]);
  return rows[0] ? toBatch(rows[0]) : null;
}

export async function releaseBatchIdempotency(client: Queryable, workspaceId: string, key: string, before: string): Promise<void> {
  await client.query('UPDATE batches SET idempotency_key = NULL WHERE workspace_id = $1 AND idempotency_key = $2 AND created_at < $3', [
    workspaceId, key, before,
  ]);
}

/** Must run in a transaction: a key taken by a concurrent finalize rolls back to a savepoint. */
export async function finalizeBatch(
  client: Queryable,
  u: Parameters<Store['finalizeBatch']>[0],
  workspaceId: string,
): Promise<{ kind: 'ok' } | { kind: 'taken'; batch: BatchRecord }> {
  const holder = async () => (u.idempotencyKey === null ? null : findBatchByIdempotencyKey(client, workspaceId, u.idempotencyKey));
  const before = await holder();
  if (before && before.id !== u.batchId) return { kind: 'taken', batch: before };
  await client.query('SAVEPOINT finalize_batch');
  try {
    await client.query(
      `UPDATE batches SET status = $2, total = $3, rejected = $4, sample_size = $5, idempotency_key = $6, request_hash = $7,
         updated_at = $8::timestamptz, completed_at = CASE WHEN $2 = 'completed' THEN $8::timestamptz ELSE NULL END
       WHERE id = $1 AND status = 'validating'`,
      [u.batchId, u.status, u.total, u.rejected, u.sampleSize, u.idempotencyKey, u.requestHash, u.now],
    );
    await client.query('RELEASE SAVEPOINT finalize_batch');
  } catch (error) {
    if (!isUniqueError(error)) throw error;
    // Another batch committed the key after our check: it is the holder now.
    await client.query('ROLLBACK TO SAVEPOINT finalize_batch');
    const after = await holder();
    if (!after) throw error;
    return { kind: 'taken', batch: after };
  }
  await insertEvents(client, [u.event]);
  // The batch's messages have no message.accepted events: stats count them here, once.
  await rollUpBatchAccepted(client, u.batchId, u.now);
  await insertAudit(client, u.audit);
  return { kind: 'ok' };
}

export async function deleteBatch(client: Queryable, batchId: string): Promise<void> {
  // Contents last: messages and the batch refer to them.
  await client.query('DELETE FROM messages WHERE batch_id = $1', [batchId]);
  await client.query('DELETE FROM batch_rejections WHERE batch_id = $1', [batchId]);
  await client.query('DELETE FROM events WHERE batch_id = $1', [batchId]);
  const { rows } = await client.query<{ content_id: string }>('DELETE FROM batches WHERE id = $1 RETURNING content_id', [batchId]);
  if (rows[0]) await client.query('DELETE FROM contents WHERE id = $1', [rows[0].content_id]);
}

export async function getContent(client: Queryable, contentId: string): Promise<Content | null> {
  const { rows } = await client.query<{ body: Content }>('SELECT body FROM contents WHERE id = $1', [contentId]);
  return rows[0]?.body ?? null;
}

export async function listBatches(client: Queryable, workspaceId: string, options: { before?: string; limit: number }): Promise<BatchRecord[]> {
  const { rows } = await client.query<BatchRow>(
    `SELECT * FROM batches WHERE workspace_id = $1 AND status <> 'validating' AND ($2::text IS NULL OR id < $2)
     ORDER BY id DESC LIMIT $3`,
    [workspaceId, options.before ?? null, options.limit],
  );
  return rows.map(toBatch);
}

export async function listActiveBatches(client: Queryable): Promise<BatchRecord[]> {
  const { rows } = await client.query<BatchRow>("SELECT * FROM batches WHERE status NOT IN ('completed', 'cancelled', 'validating') ORDER BY id");
  return rows.map(toBatch);
}

export async function listStaleBatches(client: Queryable, before: string): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>("SELECT id FROM batches WHERE status = 'validating' AND updated_at < $1", [before]);
  return rows.map((row) => row.id);
}

export async function countBatchMessages(client: Queryable, batchId: string, sampleOnly: boolean): Promise<BatchStatusCounts> {
  const { rows } = await client.query<{ status: MessageStatus; n: number }>(
    `SELECT status, count(*)::int AS n FROM messages WHERE batch_id = $1${sampleOnly ? ' AND sample = 1' : ''} GROUP BY status`,
    [batchId],
  );
  const counts: BatchStatusCounts = {};
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}

export async function transitionBatch(client: Queryable, c: Parameters<Store['transitionBatch']>[0]): Promise<boolean> {
  const changed = await client.query(
    `UPDATE batches SET status = $2, status_reason = $3, updated_at = $4::timestamptz,
       completed_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN $4::timestamptz ELSE completed_at END,
       canary_done_at = CASE WHEN $6::boolean THEN $4::timestamptz ELSE canary_done_at END
     WHERE id = $1 AND status = ANY($5::text[])`,
    [c.batchId, c.to, c.reason, c.now, c.from, c.canaryDone ?? false],
  );
  if (changed.rowCount !== 1) return false;
  if (c.cancelMessages) {
    await client.query("UPDATE messages SET status = 'cancelled', updated_at = $2 WHERE batch_id = $1 AND status IN ('queued', 'deferred')", [
      c.batchId, c.now,
    ]);
  }
  if (c.event) await insertEvents(client, [c.event]);
  if (c.audit) await insertAudit(client, c.audit);
  return true;
}

export async function updateBatchContent(client: Queryable, batchId: string, content: Content, options: Record<string, unknown>, now: string, audit: AuditEntry): Promise<void> {
  const updated = await client.query(
    `WITH b AS (UPDATE batches SET options = $2, updated_at = $3 WHERE id = $1 RETURNING content_id)
     UPDATE contents SET body = $4 FROM b WHERE contents.id = b.content_id`,
    [batchId, JSON.stringify(options), now, JSON.stringify(content)],
  );
  if (updated.rowCount === 1) await insertAudit(client, audit);
}

export async function claimProgress(client: Queryable, batchId: string, digest: string, notBefore: string, now: string, event: NewEvent): Promise<boolean> {
  const claimed = await client.query(
    `UPDATE batches SET progress_at = $4, progress_digest = $2
     WHERE id = $1 AND (progress_at IS NULL OR progress_at <= $3) AND (progress_digest IS NULL OR progress_digest <> $2)`,
    [batchId, digest, notBefore, now],
  );
  if (claimed.rowCount !== 1) return false;
  await insertEvents(client, [event]);
  return true;
}

export async function listBatchRejections(client: Queryable, batchId: string, options: { after?: number; limit: number }): Promise<(BatchRejection & { seq: number })[]> {
  const { rows } = await client.query<BatchRejection & { seq: number }>(
    'SELECT seq, row, email, reason, detail FROM batch_rejections WHERE batch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
    [batchId, options.after ?? 0, options.limit],
  );
  return rows;
}

export async function listBatchMessages(client: Queryable, batchId: string, options: { status?: MessageStatus; after?: string; limit: number }): Promise<Message[]> {
  const { rows } = await client.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE batch_id = $1 AND ($2::text IS NULL OR status = $2)
       AND ($3::text IS NULL OR id > $3) ORDER BY id LIMIT $4`,
    [batchId, options.status ?? null, options.after ?? null, options.limit],
  );
  return rows.map(toMessage);
}

export async function listBatchEvents(client: Queryable, batchId: string, options: { after: number; limit: number }): Promise<MessageEvent[]> {
  const { rows } = await client.query<EventRow>(
    'SELECT * FROM events WHERE batch_id = $1 AND message_id IS NULL AND seq > $2 ORDER BY seq LIMIT $3',
    [batchId, options.after, options.limit],
  );
  return rows.map(toEvent);
}

export async function countBatchEvents(client: Queryable, batchId: string, type: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE batch_id = $1 AND type = $2', [batchId, type]);
  return rows[0]?.n ?? 0;
}

export async function latestBatchEvent(client: Queryable, batchId: string, type: string): Promise<MessageEvent | null> {
  const { rows } = await client.query<EventRow>(
    'SELECT * FROM events WHERE batch_id = $1 AND message_id IS NULL AND type = $2 ORDER BY seq DESC LIMIT 1',
    [batchId, type],
  );
  return rows[0] ? toEvent(rows[0]) : null;
}

export async function listAudit(client: Queryable, workspaceId: string, options: { before?: number; limit: number }): Promise<(AuditEntry & { seq: number })[]> {
  const { rows } = await client.query<{
    seq: string; id: string; workspace_id: string; key_id: string | null; action: string; resource: string; detail: Record<string, unknown>; created_at: Date;
  }>(
    `SELECT seq, id, workspace_id, key_id, action, resource, detail, created_at FROM audit_log
     WHERE workspace_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3`,
    [workspaceId, options.before ?? null, options.limit],
  );
  return rows.map((r) => ({
    seq: Number(r.seq), id: r.id, workspaceId: r.workspace_id, keyId: r.key_id, action: r.action, resource: r.resource,
    detail: r.detail, createdAt: iso(r.created_at),
  }));
}
