/**
 * The numbers behind `/v1/stats` and `/metrics` on SQLite: rollup rows summed per hour (never the
 * event log), and the delivery queue's depth by state.
 */
import type { Database } from 'better-sqlite3';
import { ROLLUP_COUNTERS, type RollupCounts } from '../../core/event-rollup.js';
import type { QueueDepth, RollupHour, RollupQuery } from '../store.js';
import { prepared } from './sqlite-statements.js';

const SUMS = ROLLUP_COUNTERS.map((counter) => `sum(${counter}) AS ${counter}`).join(', ');

export function sumRollups(db: Database, workspaceId: string, query: RollupQuery): RollupHour[] {
  const rows = prepared(
    db,
    `SELECT hour, ${SUMS} FROM event_rollups
     WHERE workspace_id = @workspaceId AND tag = @tag AND hour >= @from AND hour < @to
       AND (@stream IS NULL OR stream = @stream) AND (@domain IS NULL OR domain = @domain)
     GROUP BY hour ORDER BY hour`,
  ).all({ workspaceId, tag: query.tag, from: query.from, to: query.to, stream: query.stream ?? null, domain: query.domain ?? null }) as
    (RollupCounts & { hour: string })[];
  return rows.map(({ hour, ...counts }) => ({ hour, counts }));
}

export function countQueue(db: Database): QueueDepth {
  const depth: QueueDepth = { queued: 0, deferred: 0, sending: 0 };
  const rows = prepared(
    db,
    "SELECT status, count(*) AS n FROM messages WHERE status IN ('queued', 'deferred', 'sending') GROUP BY status",
  ).all() as { status: keyof QueueDepth; n: number }[];
  for (const row of rows) depth[row.status] = row.n;
  return depth;
}
