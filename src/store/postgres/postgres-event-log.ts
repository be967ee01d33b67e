/**
 * Reading a workspace's event log on PostgreSQL, in `seq` order. Within a workspace `seq` order is
 * commit order (events are appended under a per-workspace lock, see postgres-events.ts), so a
 * reader that continues after the last seq it saw never skips an event that committed late.
 */
import type pg from 'pg';
import type { MessageEvent } from '../../core/types.js';
import type { EventLogFilter } from '../store.js';
import { toEvent, type EventRow } from './postgres-rows.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

export async function listEvents(client: Queryable, workspaceId: string, filter: EventLogFilter): Promise<MessageEvent[]> {
  const filtered = filter.types !== undefined || filter.prefixes !== undefined;
  const { rows } = await client.query<EventRow>(
    `SELECT * FROM events WHERE workspace_id = $1 AND seq > $2
       ${filtered ? 'AND (type = ANY($4::text[]) OR EXISTS (SELECT 1 FROM unnest($5::text[]) AS p WHERE starts_with(type, p)))' : ''}
     ORDER BY seq LIMIT $3`,
    filtered
      ? [workspaceId, filter.after, filter.limit, filter.types ?? [], filter.prefixes ?? []]
      : [workspaceId, filter.after, filter.limit],
  );
  return rows.map(toEvent);
}

export async function latestEventSeq(client: Queryable, workspaceId: string): Promise<number> {
  const { rows } = await client.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM events WHERE workspace_id = $1', [workspaceId]);
  return Number(rows[0]?.seq ?? 0);
}
