/**
 * Appending to the event log and the audit log on PostgreSQL: shared by every write that reports
 * what it did. Each append also counts its events in the stats rollups (postgres-rollups.ts).
 *
 * Event order: `seq` comes from a sequence when a row is inserted, but transactions commit in any
 * order, so a reader following `seq > last` could pass an event that commits after a later one.
 * Appending under a transaction-scoped advisory lock per workspace makes `seq` order commit order
 * within a workspace (what `/v1/events`, its stream and the batch stream read by); it also keeps
 * two transactions from upserting the same rollup rows at once. The lock is held from the append
 * to the commit, so every writer appends its events last in its transaction.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AuditEntry, NewEvent } from '../store.js';
import { raisesDue } from '../signals.js';
import { rollUpEvents } from './postgres-rollups.js';
import { notify } from './postgres-signals.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Arbitrary, fixed: the advisory lock class of the event-order locks (the key is the workspace's hash). */
const EVENT_ORDER_LOCK = 7_120_432;

/** The lock keys of the events' workspaces, ascending, so that transactions take them in one order. */
function orderLockKeys(events: NewEvent[]): number[] {
  const keys = new Set(events.map((e) => createHash('sha1').update(e.workspaceId).digest().readInt32BE(0)));
  return [...keys].sort((a, b) => a - b);
}

/** Appends events in one statement, in array order (so their `seq` follows it), and rolls them up. */
export async function insertEvents(client: Queryable, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  // unnest yields the keys in array order, so the locks are taken in ascending order.
  await client.query('SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int[]) AS k', [EVENT_ORDER_LOCK, orderLockKeys(events)]);
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
  await rollUpEvents(client, events);
  await notify(client, events.some((e) => raisesDue(e.type)) ? ['events', 'due'] : ['events']);
}

export async function insertAudit(client: Queryable, entry: AuditEntry): Promise<void> {
  await client.query(
    'INSERT INTO audit_log (id, workspace_id, key_id, action, resource, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [entry.id, entry.workspaceId, entry.keyId, entry.action, entry.resource, JSON.stringify(entry.detail), entry.createdAt],
  );
}
