/**
 * Reading a workspace's event log on SQLite, in `seq` order (one writer at a time, so `seq` order
 * is commit order). Type filters are exact types and type prefixes (`message.` for `message.*`),
 * passed as JSON arrays so one prepared statement serves every filter.
 */
import type { Database } from 'better-sqlite3';
import type { MessageEvent } from '../../core/types.js';
import type { EventLogFilter } from '../store.js';
import { toEvent, type EventRow } from './sqlite-rows.js';
import { prepared } from './sqlite-statements.js';

export function listEvents(db: Database, workspaceId: string, filter: EventLogFilter): MessageEvent[] {
  const filtered = filter.types !== undefined || filter.prefixes !== undefined;
  const rows = (
    filtered
      ? prepared(
          db,
          // Qualified: json_each has a column named `type` of its own.
          `SELECT e.* FROM events e WHERE e.workspace_id = @workspaceId AND e.seq > @after
             AND (e.type IN (SELECT value FROM json_each(@types))
               OR EXISTS (SELECT 1 FROM json_each(@prefixes) p WHERE substr(e.type, 1, length(p.value)) = p.value))
           ORDER BY e.seq LIMIT @limit`,
        ).all({
          workspaceId,
          after: filter.after,
          limit: filter.limit,
          types: JSON.stringify(filter.types ?? []),
          prefixes: JSON.stringify(filter.prefixes ?? []),
        })
      : prepared(db, 'SELECT * FROM events WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(workspaceId, filter.after, filter.limit)
  ) as EventRow[];
  return rows.map(toEvent);
}

export function latestEventSeq(db: Database, workspaceId: string): number {
  const seq = prepared(db, 'SELECT max(seq) FROM events WHERE workspace_id = ?').pluck().get(workspaceId) as number | null;
  return seq ?? 0;
}
