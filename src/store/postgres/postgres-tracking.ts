/**
 * Tracking and frequency-cap queries on PostgreSQL, one function per unit of work with the client
 * passed in (the store runs each in a transaction). Marks are claimed by the primary key
 * (`ON CONFLICT DO NOTHING`: of two concurrent claims, the second waits for the first and gets
 * nothing); ledger decisions run under a transaction-scoped advisory lock per workspace (taken in
 * ascending key order), so workers deciding at once take turns. One lock per workspace rather than
 * per recipient: a chunk holds hundreds of recipients, and advisory locks live in the server's
 * fixed-size lock table; a reservation is one read and one write, so turns are short.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { decideFrequency, ledgerKey, lookbackSeconds, type FrequencyVerdict, type LedgerRow } from '../../core/frequency-cap.js';
import type { EngagementWrite, SendReservation } from '../store.js';
import { insertEvents } from './postgres-events.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** Arbitrary, fixed: the advisory lock class of the send-ledger locks (the key is the workspace's hash). */
const SEND_LEDGER_LOCK = 7_120_510;

function lockKey(key: string): number {
  return createHash('sha1').update(key).digest().readInt32BE(0);
}

/** Claims the write's marks and appends its event (last, as event appends must be). */
export async function recordEngagement(client: Queryable, write: EngagementWrite): Promise<Set<string>> {
  const { rows } = await client.query<{ mark: string }>(
    `INSERT INTO engagement_marks (workspace_id, message_id, mark, created_at)
     SELECT $1, $2, mark, $4 FROM unnest($3::text[]) AS mark
     ON CONFLICT (workspace_id, message_id, mark) DO NOTHING RETURNING mark`,
    [write.workspaceId, write.messageId, write.marks, write.now],
  );
  const fresh = new Set(rows.map((row) => row.mark));
  const event = write.event(fresh);
  if (event !== null) await insertEvents(client, [event]);
  return fresh;
}

/** Locks the chunk's workspaces' ledgers, reads their ledger rows in the longest window, decides, writes the allowed. */
export async function reserveSends(client: Queryable, reservation: SendReservation): Promise<Map<string, FrequencyVerdict>> {
  const now = new Date(reservation.now);
  const pairs = [...new Map(reservation.requests.map((r) => [ledgerKey(r.workspaceId, r.recipient), r])).values()];
  if (pairs.length === 0) return new Map();
  const keys = [...new Set(pairs.map((r) => lockKey(r.workspaceId)))].sort((a, b) => a - b);
  // unnest yields the keys in array order, so the locks are taken in ascending order.
  await client.query('SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int[]) AS k', [SEND_LEDGER_LOCK, keys]);
  const history = new Map<string, LedgerRow[]>();
  const lookback = lookbackSeconds(reservation.requests);
  if (lookback > 0) {
    const { rows } = await client.query<{ workspace_id: string; recipient: string; message_id: string; sent_at: Date }>(
      `SELECT l.workspace_id, l.recipient, l.message_id, l.sent_at
       FROM unnest($1::text[], $2::text[]) AS p(workspace_id, recipient)
       JOIN send_ledger l ON l.workspace_id = p.workspace_id AND l.recipient = p.recipient AND l.sent_at > $3`,
      [pairs.map((r) => r.workspaceId), pairs.map((r) => r.recipient), new Date(now.getTime() - lookback * 1000)],
    );
    for (const row of rows) {
      const key = ledgerKey(row.workspace_id, row.recipient);
      const list = history.get(key) ?? [];
      list.push({ messageId: row.message_id, at: row.sent_at.toISOString() });
      history.set(key, list);
    }
  }
  const { verdicts, allowed } = decideFrequency(reservation.requests, history, now);
  if (allowed.length > 0) {
    await client.query(
      `INSERT INTO send_ledger (workspace_id, recipient, message_id, sent_at)
       SELECT w, r, m, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(w, r, m)
       ON CONFLICT (workspace_id, recipient, message_id) DO UPDATE SET sent_at = excluded.sent_at`,
      [allowed.map((a) => a.workspaceId), allowed.map((a) => a.recipient), allowed.map((a) => a.messageId), reservation.now],
    );
  }
  return verdicts;
}

export async function pruneSendLedger(client: Queryable, before: string): Promise<number> {
  const result = await client.query('DELETE FROM send_ledger WHERE sent_at < $1', [before]);
  return result.rowCount ?? 0;
}
