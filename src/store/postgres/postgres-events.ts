/** Appending to the event log and the audit log on PostgreSQL: shared by every write that reports what it did. */
import type pg from 'pg';
import type { AuditEntry, NewEvent } from '../store.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Appends events in one statement, in array order (so their `seq` follows it). */
export async function insertEvents(client: Queryable, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `INSERT INTO events (id, workspace_id, type, message_id, batch_id, recipient, data, created_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::timestamptz[])`,
    [
      events.map((e) => e.id),
      events.map((e) => e.workspaceId),
      events.map((e) => e.type),
      events.map((e) => e.messageId),
      events.map((e) => e.batchId),
      events.map((e) => e.recipient),
      events.map((e) => JSON.stringify(e.data)),
      events.map((e) => e.createdAt),
    ],
  );
}

export async function insertAudit(client: Queryable, entry: AuditEntry): Promise<void> {
  await client.query(
    'INSERT INTO audit_log (id, workspace_id, key_id, action, resource, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [entry.id, entry.workspaceId, entry.keyId, entry.action, entry.resource, JSON.stringify(entry.detail), entry.createdAt],
  );
}
