/**
 * Stats rollups on SQLite, written inside the caller's transaction: `rollUpEvent` from every event
 * insert (sqlite-events.ts), `rollUpBatchAccepted` when a batch is finalized (its messages have no
 * `message.accepted` events of their own). What counts, and how, is core/event-rollup.ts; stream
 * and tags are read from the message, so every writer of an event is covered alike.
 */
import type { Database } from 'better-sqlite3';
import { recipientDomain, rollupCounterOf, rollupHour, rollupTags, type RollupCounter } from '../../core/event-rollup.js';
import type { NewEvent } from '../store.js';
import { prepared } from './sqlite-statements.js';

interface MessageDimensions {
  workspace_id: string;
  stream: string;
  recipient: string;
  tags: string;
}

/** Adds `amount` to one counter of one row, creating the row at zero first. */
function upsertSql(counter: RollupCounter): string {
  return `INSERT INTO event_rollups (workspace_id, tag, hour, stream, domain, ${counter}) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (workspace_id, tag, hour, stream, domain) DO UPDATE SET ${counter} = ${counter} + excluded.${counter}`;
}

function tagsOf(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return rollupTags(Array.isArray(parsed) ? parsed : []);
}

/** Counts one event, if stats count its type and it belongs to a stored message. */
export function rollUpEvent(db: Database, event: NewEvent): void {
  if (event.messageId === null) return;
  const counter = rollupCounterOf(event.type, event.data);
  if (counter === null) return;
  const message = prepared(db, 'SELECT workspace_id, stream, recipient, tags FROM messages WHERE id = ?').get(event.messageId) as
    | MessageDimensions
    | undefined;
  if (!message) return;
  const upsert = prepared(db, upsertSql(counter));
  const hour = rollupHour(event.createdAt);
  const domain = recipientDomain(message.recipient);
  for (const tag of tagsOf(message.tags)) upsert.run(message.workspace_id, tag, hour, message.stream, domain, 1);
}

/** Counts every message of a finalized batch as accepted at `at`, one upsert per distinct row. */
export function rollUpBatchAccepted(db: Database, batchId: string, at: string): void {
  const hour = rollupHour(at);
  const rows = new Map<string, { workspaceId: string; tag: string; stream: string; domain: string; n: number }>();
  // Aggregated before writing: better-sqlite3 runs nothing else while a statement iterates.
  for (const m of prepared(db, 'SELECT workspace_id, stream, recipient, tags FROM messages WHERE batch_id = ?').iterate(batchId) as Iterable<MessageDimensions>) {
    const domain = recipientDomain(m.recipient);
    for (const tag of tagsOf(m.tags)) {
      const key = JSON.stringify([m.workspace_id, tag, m.stream, domain]);
      const row = rows.get(key);
      if (row) row.n += 1;
      else rows.set(key, { workspaceId: m.workspace_id, tag, stream: m.stream, domain, n: 1 });
    }
  }
  const upsert = prepared(db, upsertSql('accepted'));
  for (const row of rows.values()) upsert.run(row.workspaceId, row.tag, hour, row.stream, row.domain, row.n);
}
