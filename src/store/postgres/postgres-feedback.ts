/**
 * Feedback queries on PostgreSQL (bounce, complaint and delivery reports about sent messages, and
 * the engine's own bounces in SMTP replies), one function per query with the client passed in.
 * `recordFeedback` runs in the store's transaction: it locks the message row, so two reports about
 * one message apply one after the other, and a soft bounce takes a transaction-scoped advisory
 * lock on its (workspace, recipient) before it counts, so two soft bounces committing at once
 * cannot both miss the limit. `recordAttemptBounce` runs in `recordAttempts`' transaction, which
 * takes the same locks (`lockSoftBounceCounts`) before it touches a message row.
 */
import type pg from 'pg';
import { supersedes } from '../../core/feedback-policy.js';
import type { MessageStatus } from '../../core/message-state.js';
import type { Message } from '../../core/types.js';
import type { AttemptBounce, FeedbackOutcome, FeedbackRecord } from '../store.js';
import { insertEvents } from './postgres-events.js';
import { MESSAGE_COLUMNS, toMessage, type MessageRow } from './postgres-rows.js';
import { addSuppressions, findSuppressed } from './postgres-suppressions.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Arbitrary, fixed: the advisory lock class of soft-bounce counts (the key is the recipient's hash). */
const SOFT_BOUNCE_LOCK = 0x46424b;
/** How far back among a recipient's messages a lookup looks. */
const RECIPIENT_WINDOW = 1000;

export async function findMessageById(client: Queryable, id: string): Promise<Message | null> {
  const { rows } = await client.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = $1`, [id]);
  return rows[0] ? toMessage(rows[0]) : null;
}

export async function findMessageToRecipient(
  client: Queryable,
  workspaceId: string,
  recipient: string,
  options: { messageIdHeader?: string; statuses: readonly MessageStatus[] },
): Promise<Message | null> {
  // The (workspace_id, recipient, id) index bounds the scan to the recipient's latest messages.
  const { rows } = await client.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM (
       SELECT ${MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND recipient = $2 ORDER BY id DESC LIMIT ${RECIPIENT_WINDOW}
     ) m WHERE ($3::text IS NULL OR message_id_header = $3) AND status = ANY($4::text[])
     ORDER BY id DESC LIMIT 1`,
    [workspaceId, recipient, options.messageIdHeader ?? null, options.statuses],
  );
  return rows[0] ? toMessage(rows[0]) : null;
}

/** Run inside a transaction. */
export async function recordFeedback(client: Queryable, record: FeedbackRecord): Promise<FeedbackOutcome> {
  const limit = record.softBounceLimit;
  // First, before any other lock this transaction takes (the event-order locks come later).
  if (limit !== undefined) await lockSoftBounceCounts(client, [{ workspaceId: record.workspaceId, recipient: record.recipient }]);
  const { rows } = await client.query<{ status: MessageStatus }>('SELECT status FROM messages WHERE id = $1 AND workspace_id = $2 FOR UPDATE', [
    record.messageId,
    record.workspaceId,
  ]);
  const status = rows[0]?.status ?? null;
  if (status === null || !record.from.includes(status)) {
    // A repeat moved the message already (bounced): say duplicate, which is what it is.
    const seen = await client.query('SELECT 1 FROM message_feedback WHERE message_id = $1 AND kind = $2', [record.messageId, record.kind]);
    return (seen.rowCount ?? 0) > 0 ? { kind: 'duplicate' } : { kind: 'not_applicable', status };
  }
  if (!(await insertReport(client, record))) return { kind: 'duplicate' };
  if (record.to !== null) {
    await client.query(
      `UPDATE messages SET status = $1, last_reply = coalesce($2, last_reply), bounce_class = coalesce($3, bounce_class), updated_at = $4
       WHERE id = $5 AND workspace_id = $6`,
      [record.to, record.lastReply, record.bounceClass, record.now, record.messageId, record.workspaceId],
    );
  }
  await insertEvents(client, [record.event]);
  const suppressions = await addSuppressions(client, record.suppressions);
  let softBounces: number | null = null;
  if (limit !== undefined) {
    softBounces = await softBouncesSince(client, record.workspaceId, record.recipient, limit.since);
    if (softBounces >= limit.limit) suppressions.push(...(await addSuppressions(client, [limit.suppression])));
  }
  return { kind: 'recorded', softBounces, suppressions };
}

/**
 * Takes the soft-bounce count locks of these recipients, in one order (ascending lock key), so
 * that transactions locking several cannot deadlock. Take them before any other lock.
 */
export async function lockSoftBounceCounts(client: Queryable, recipients: { workspaceId: string; recipient: string }[]): Promise<void> {
  if (recipients.length === 0) return;
  await client.query(
    'SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS keys',
    [SOFT_BOUNCE_LOCK, recipients.map((r) => `${r.workspaceId}\n${r.recipient}`)],
  );
}

/**
 * The bounce report of a message that bounced in its SMTP reply, and the entry it causes. Run in
 * the transaction that moved the message to `bounced`, after `lockSoftBounceCounts` for a soft
 * bounce; a repeat writes nothing.
 */
export async function recordAttemptBounce(client: Queryable, messageId: string, bounce: AttemptBounce, now: string): Promise<void> {
  const { suppression } = bounce;
  const workspaceId = suppression.workspaceId;
  const report = { messageId, kind: 'bounce' as const, workspaceId, recipient: bounce.recipient, bounceClass: bounce.bounceClass, source: bounce.source, now };
  if (!(await insertReport(client, report))) return;
  const existing = (await findSuppressed(client, workspaceId, 'broadcast', [bounce.recipient])).get(bounce.recipient);
  if (!supersedes(existing, suppression.reason)) return;
  const limit = bounce.softBounceLimit;
  if (limit !== undefined && (await softBouncesSince(client, workspaceId, bounce.recipient, limit.since)) < limit.limit) return;
  await addSuppressions(client, [suppression]);
}

/** Inserts a report; false when the message already has one of its kind. */
async function insertReport(
  client: Queryable,
  report: Pick<FeedbackRecord, 'messageId' | 'kind' | 'workspaceId' | 'recipient' | 'bounceClass' | 'source' | 'now'>,
): Promise<boolean> {
  const inserted = await client.query(
    `INSERT INTO message_feedback (message_id, kind, workspace_id, recipient, bounce_class, source, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id, kind) DO NOTHING`,
    [report.messageId, report.kind, report.workspaceId, report.recipient, report.bounceClass, report.source, report.now],
  );
  return (inserted.rowCount ?? 0) > 0;
}

/** The recipient's soft bounces recorded since `since`, through the partial index. */
async function softBouncesSince(client: Queryable, workspaceId: string, recipient: string, since: string): Promise<number> {
  const counted = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM message_feedback
     WHERE workspace_id = $1 AND recipient = $2 AND kind = 'bounce' AND bounce_class = 'soft' AND created_at >= $3`,
    [workspaceId, recipient, since],
  );
  return Number(counted.rows[0]?.n ?? 0);
}
