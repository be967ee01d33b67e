/**
 * Suppression-list queries on PostgreSQL, one function per query with the client passed in (the
 * store delegates to these and runs writes in a transaction). Emails arrive normalised (domain
 * lower-cased) and are compared as given. Bulk writes and lookups are one statement over arrays.
 */
import type pg from 'pg';
import { scopesBlocking, strongerHit, type SuppressionHit, type SuppressionReason, type SuppressionScope } from '../../core/suppression.js';
import type { Stream } from '../../core/types.js';
import type { NewEvent, NewSuppression, Suppression, SuppressionFilter, SuppressionWrite } from '../store.js';
import { insertEvents } from './postgres-events.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

interface SuppressionRow {
  workspace_id: string;
  email: string;
  scope: SuppressionScope;
  reason: SuppressionReason;
  source: string;
  created_at: Date;
}

interface WriteRow {
  ord: string;
  reason: SuppressionReason;
  source: string;
  created_at: Date;
  change: SuppressionWrite['change'];
}

function toSuppression(row: SuppressionRow): Suppression {
  return {
    workspaceId: row.workspace_id,
    email: row.email,
    scope: row.scope,
    reason: row.reason,
    source: row.source,
    createdAt: row.created_at.toISOString(),
  };
}

/**
 * One statement upserts the whole list: `prior` is the table as the statement found it, so each
 * row can say whether it was added, updated or left as it was. An unchanged row is not rewritten.
 * A row inserted by a concurrent transaction after this one's snapshot reports as `updated`.
 */
const UPSERT = `
  WITH input AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
      WITH ORDINALITY AS i(email, scope, reason, source, created_at, ord)
  ), prior AS (
    SELECT s.email, s.scope, s.reason, s.source, s.created_at
    FROM suppressions s JOIN input i ON s.email = i.email AND s.scope = i.scope
    WHERE s.workspace_id = $1
  ), written AS (
    INSERT INTO suppressions AS s (workspace_id, email, scope, reason, source, created_at)
    SELECT $1, email, scope, reason, source, created_at FROM input
    ON CONFLICT (workspace_id, email, scope) DO UPDATE SET reason = excluded.reason, source = excluded.source
      WHERE (s.reason, s.source) IS DISTINCT FROM (excluded.reason, excluded.source)
    RETURNING s.email, s.scope, s.reason, s.source, s.created_at, (s.xmax = 0) AS inserted
  )
  SELECT i.ord,
    coalesce(w.reason, p.reason, i.reason) AS reason,
    coalesce(w.source, p.source, i.source) AS source,
    coalesce(w.created_at, p.created_at, i.created_at) AS created_at,
    CASE WHEN w.email IS NULL THEN 'unchanged' WHEN w.inserted THEN 'added' ELSE 'updated' END AS change
  FROM input i
  LEFT JOIN written w ON w.email = i.email AND w.scope = i.scope
  LEFT JOIN prior p ON p.email = i.email AND p.scope = i.scope
  ORDER BY i.ord`;

/**
 * Inserts new entries and updates the reason and source of existing ones (keeping their
 * created_at), appending an entry's event (and its related events) when it was added or changed.
 * Run inside a transaction; every entry must belong to `entries[0].workspaceId`.
 */
export async function addSuppressions(client: Queryable, entries: NewSuppression[]): Promise<SuppressionWrite[]> {
  const first = entries[0];
  if (!first) return [];
  const { rows } = await client.query<WriteRow>(UPSERT, [
    first.workspaceId,
    entries.map((e) => e.email),
    entries.map((e) => e.scope),
    entries.map((e) => e.reason),
    entries.map((e) => e.source),
    entries.map((e) => e.createdAt),
  ]);
  const writes: SuppressionWrite[] = [];
  const events: NewEvent[] = [];
  for (const row of rows) {
    const entry = entries[Number(row.ord) - 1] as NewSuppression;
    const { event, related = [], ...given } = entry;
    if (row.change !== 'unchanged') events.push(event, ...related);
    writes.push({
      suppression: { ...given, reason: row.reason, source: row.source, createdAt: row.created_at.toISOString() },
      change: row.change,
    });
  }
  await insertEvents(client, events);
  return writes;
}

export async function removeSuppression(client: Queryable, workspaceId: string, email: string, scope?: SuppressionScope): Promise<number> {
  const result = await client.query(
    'DELETE FROM suppressions WHERE workspace_id = $1 AND email = $2 AND ($3::text IS NULL OR scope = $3)',
    [workspaceId, email, scope ?? null],
  );
  return result.rowCount ?? 0;
}

export async function listSuppressions(client: Queryable, workspaceId: string, filter: SuppressionFilter): Promise<Suppression[]> {
  const params: unknown[] = [workspaceId, filter.limit];
  const where = ['workspace_id = $1'];
  if (filter.reason !== undefined) where.push(`reason = $${params.push(filter.reason)}`);
  if (filter.after !== undefined) {
    where.push(`(email, scope) > ($${params.push(filter.after.email)}, $${params.push(filter.after.scope)})`);
  }
  const { rows } = await client.query<SuppressionRow>(
    `SELECT * FROM suppressions WHERE ${where.join(' AND ')} ORDER BY email, scope LIMIT $2`,
    params,
  );
  return rows.map(toSuppression);
}

/** One statement for the whole list of emails, however long (`= ANY` over an array). */
export async function findSuppressed(
  client: Queryable,
  workspaceId: string,
  stream: Stream,
  emails: string[],
): Promise<Map<string, SuppressionHit>> {
  const found = new Map<string, SuppressionHit>();
  if (emails.length === 0) return found;
  const { rows } = await client.query<Pick<SuppressionRow, 'email' | 'scope' | 'reason'>>(
    'SELECT email, scope, reason FROM suppressions WHERE workspace_id = $1 AND email = ANY($2::text[]) AND scope = ANY($3::text[])',
    [workspaceId, emails, scopesBlocking(stream)],
  );
  for (const row of rows) found.set(row.email, strongerHit(found.get(row.email), { reason: row.reason, scope: row.scope }));
  return found;
}
