/**
 * The numbers behind `/v1/stats` and `/metrics` on PostgreSQL: rollup rows summed per hour (never
 * the event log), and the delivery queue's depth by state.
 */
import type pg from 'pg';
import { ROLLUP_COUNTERS, type RollupCounter, type RollupCounts } from '../../core/event-rollup.js';
import type { QueueDepth, RollupHour, RollupQuery } from '../store.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

// Sums of bigint come back as numeric strings; a counter fits a JS number for any real volume.
const SUMS = ROLLUP_COUNTERS.map((counter) => `sum(${counter})::float8 AS ${counter}`).join(', ');

export async function sumRollups(client: Queryable, workspaceId: string, query: RollupQuery): Promise<RollupHour[]> {
  const { rows } = await client.query<Record<RollupCounter, number> & { hour: Date }>(
    `SELECT hour, ${SUMS} FROM event_rollups
     WHERE workspace_id = $1 AND tag = $2 AND hour >= $3 AND hour < $4
       AND ($5::text IS NULL OR stream = $5) AND ($6::text IS NULL OR domain = $6)
     GROUP BY hour ORDER BY hour`,
    [workspaceId, query.tag, query.from, query.to, query.stream ?? null, query.domain ?? null],
  );
  return rows.map(({ hour, ...counts }) => ({ hour: hour.toISOString(), counts: counts as RollupCounts }));
}

export async function countQueue(client: Queryable): Promise<QueueDepth> {
  const depth: QueueDepth = { queued: 0, deferred: 0, sending: 0 };
  const { rows } = await client.query<{ status: keyof QueueDepth; n: number }>(
    "SELECT status, count(*)::int AS n FROM messages WHERE status IN ('queued', 'deferred', 'sending') GROUP BY status",
  );
  for (const row of rows) depth[row.status] = row.n;
  return depth;
}
