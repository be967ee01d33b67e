/**
 * Feedback queries on SQLite (bounce, complaint and delivery reports about sent messages, and the
 * engine's own bounces in SMTP replies), one function per query with the database passed in.
 * `recordFeedback` and `recordAttemptBounce` run inside the store's IMMEDIATE transaction, so the
 * soft-bounce count they take cannot race another writer.
 */
import type { Database } from 'better-sqlite3';
import { supersedes } from '../../core/feedback-policy.js';
import type { MessageStatus } from '../../core/message-state.js';
import type { Message } from '../../core/types.js';
import type { AttemptBounce, FeedbackOutcome, FeedbackRecord } from '../store.js';
import { insertEvent } from './sqlite-events.js';
import { toMessage, type MessageRow } from './sqlite-rows.js';
import { prepared } from './sqlite-statements.js';
import { addSuppressions, findSuppressed } from './sqlite-suppressions.js';

const COLUMNS = `id, workspace_id, content_id, batch_id, recipient, sender, status, stream, subject,
  message_id_header, tags, metadata, attempts, due_at, expires_at, last_reply, bounce_class, variables, sample, created_at, updated_at`;

/** How far back among a recipient's messages a lookup looks. */
const RECIPIENT_WINDOW = 1000;

export function findMessageById(db: Database, id: string): Message | null {
  const row = prepared(db, `SELECT ${COLUMNS} FROM messages WHERE id = ?`).get(id) as MessageRow | undefined;
  return row ? toMessage(row) : null;
}

export function findMessageToRecipient(
  db: Database,
  workspaceId: string,
  recipient: string,
  options: { messageIdHeader?: string; statuses: readonly MessageStatus[] },
): Message | null {
  // The (workspace_id, recipient, id) index bounds the scan to the recipient's latest messages.
  const row = prepared(
    db,
    `SELECT ${COLUMNS} FROM (
       SELECT ${COLUMNS} FROM messages WHERE workspace_id = @workspaceId AND recipient = @recipient ORDER BY id DESC LIMIT ${RECIPIENT_WINDOW}
     ) WHERE (@header IS NULL OR message_id_header = @header) AND status IN (SELECT value FROM json_each(@statuses))
     ORDER BY id DESC LIMIT 1`,
  ).get({ workspaceId, recipient, header: options.messageIdHeader ?? null, statuses: JSON.stringify(options.statuses) }) as MessageRow | undefined;
  return row ? toMessage(row) : null;
}

/** Run inside a transaction. */
export function recordFeedback(db: Database, record: FeedbackRecord): FeedbackOutcome {
  const status = prepared(db, 'SELECT status FROM messages WHERE id = ? AND workspace_id = ?').pluck().get(record.messageId, record.workspaceId) as
    | MessageStatus
    | undefined;
  if (status === undefined || !record.from.includes(status)) {
    // A repeat moved the message already (bounced): say duplicate, which is what it is.
    const seen = prepared(db, 'SELECT 1 FROM message_feedback WHERE message_id = ? AND kind = ?').get(record.messageId, record.kind) !== undefined;
    return seen ? { kind: 'duplicate' } : { kind: 'not_applicable', status: status ?? null };
  }
  if (!insertReport(db, record)) return { kind: 'duplicate' };
  if (record.to !== null) {
    prepared(
      db,
      `UPDATE messages SET status = ?, last_reply = coalesce(?, last_reply), bounce_class = coalesce(?, bounce_class), updated_at = ?
       WHERE id = ? AND workspace_id = ?`,
    ).run(record.to, record.lastReply, record.bounceClass, record.now, record.messageId, record.workspaceId);
  }
  insertEvent(db, record.event);
  const suppressions = addSuppressions(db, record.suppressions);
  let softBounces: number | null = null;
  const limit = record.softBounceLimit;
  if (limit !== undefined) {
    softBounces = softBouncesSince(db, record.workspaceId, record.recipient, limit.since);
    if (softBounces >= limit.limit) suppressions.push(...addSuppressions(db, [limit.suppression]));
  }
  return { kind: 'recorded', softBounces, suppressions };
}

/**
 * The bounce report of a message that bounced in its SMTP reply, and the entry it causes. Run in
 * the transaction that moved the message to `bounced`; a repeat writes nothing.
 */
export function recordAttemptBounce(db: Database, messageId: string, bounce: AttemptBounce, now: string): void {
  const { suppression } = bounce;
  const report = { messageId, kind: 'bounce' as const, workspaceId: suppression.workspaceId, recipient: bounce.recipient, bounceClass: bounce.bounceClass, source: bounce.source, now };
  if (!insertReport(db, report)) return;
  const existing = findSuppressed(db, suppression.workspaceId, 'broadcast', [bounce.recipient]).get(bounce.recipient);
  if (!supersedes(existing, suppression.reason)) return;
  const limit = bounce.softBounceLimit;
  if (limit !== undefined && softBouncesSince(db, suppression.workspaceId, bounce.recipient, limit.since) < limit.limit) return;
  addSuppressions(db, [suppression]);
}

/** Inserts a report; false when the message already has one of its kind. */
function insertReport(
  db: Database,
  report: Pick<FeedbackRecord, 'messageId' | 'kind' | 'workspaceId' | 'recipient' | 'bounceClass' | 'source' | 'now'>,
): boolean {
  return (
    prepared(
      db,
      `INSERT INTO message_feedback (message_id, kind, workspace_id, recipient, bounce_class, source, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, kind) DO NOTHING`,
    ).run(report.messageId, report.kind, report.workspaceId, report.recipient, report.bounceClass, report.source, report.now).changes > 0
  );
}

/** The recipient's soft bounces recorded since `since`, through the partial index. */
function softBouncesSince(db: Database, workspaceId: string, recipient: string, since: string): number {
  return prepared(
    db,
    `SELECT count(*) FROM message_feedback
     WHERE workspace_id = ? AND recipient = ? AND kind = 'bounce' AND bounce_class = 'soft' AND created_at >= ?`,
  ).pluck().get(workspaceId, recipient, since) as number;
}
