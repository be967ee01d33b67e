/**
 * Suppression-list queries on SQLite, one function per query with the database passed in (the
 * store delegates to these and runs writes in an IMMEDIATE transaction). Emails arrive
 * normalised (domain lower-cased) and are compared as given.
 */
import type { Database } from 'better-sqlite3';
import { scopesBlocking, strongerHit, type SuppressionHit, type SuppressionReason, type SuppressionScope } from '../../core/suppression.js';
import type { Stream } from '../../core/types.js';
import type { NewSuppression, Suppression, SuppressionFilter, SuppressionWrite } from '../store.js';
import { insertEvent } from './sqlite-events.js';
import { prepared } from './sqlite-statements.js';

interface SuppressionRow {
  workspace_id: string;
  email: string;
  scope: SuppressionScope;
  reason: SuppressionReason;
  source: string;
  created_at: string;
}

function toSuppression(row: SuppressionRow): Suppression {
  return {
    workspaceId: row.workspace_id,
    email: row.email,
    scope: row.scope,
    reason: row.reason,
    source: row.source,
    createdAt: row.created_at,
  };
}

/**
 * Inserts new entries and updates the reason and source of existing ones (keeping their
 * created_at), appending an entry's event (and its related events) when it was added or changed.
 * Run inside a transaction.
 */
export function addSuppressions(db: Database, entries: NewSuppression[]): SuppressionWrite[] {
  return entries.map((entry): SuppressionWrite => {
    const { event, related = [], ...suppression } = entry;
    const prior = prepared(db, 'SELECT * FROM suppressions WHERE workspace_id = ? AND email = ? AND scope = ?').get(
      entry.workspaceId,
      entry.email,
      entry.scope,
    ) as SuppressionRow | undefined;
    if (!prior) {
      prepared(
        db,
        'INSERT INTO suppressions (workspace_id, email, scope, reason, source, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(entry.workspaceId, entry.email, entry.scope, entry.reason, entry.source, entry.createdAt);
      for (const written of [event, ...related]) insertEvent(db, written);
      return { suppression, change: 'added' };
    }
    const stored = toSuppression(prior);
    if (prior.reason === entry.reason && prior.source === entry.source) return { suppression: stored, change: 'unchanged' };
    prepared(db, 'UPDATE suppressions SET reason = ?, source = ? WHERE workspace_id = ? AND email = ? AND scope = ?').run(
      entry.reason,
      entry.source,
      entry.workspaceId,
      entry.email,
      entry.scope,
    );
    for (const written of [event, ...related]) insertEvent(db, written);
    return { suppression: { ...stored, reason: entry.reason, source: entry.source }, change: 'updated' };
  });
}

export function removeSuppression(db: Database, workspaceId: string, email: string, scope?: SuppressionScope): number {
  return prepared(db, 'DELETE FROM suppressions WHERE workspace_id = @workspaceId AND email = @email AND (@scope IS NULL OR scope = @scope)').run({
    workspaceId,
    email,
    scope: scope ?? null,
  }).changes;
}

export function listSuppressions(db: Database, workspaceId: string, filter: SuppressionFilter): Suppression[] {
  // Separate statements per filter shape, so each one uses its index (the primary key, or reason's).
  const where = ['workspace_id = @workspaceId'];
  if (filter.reason !== undefined) where.push('reason = @reason');
  if (filter.after !== undefined) where.push('(email, scope) > (@afterEmail, @afterScope)');
  const rows = prepared(db, `SELECT * FROM suppressions WHERE ${where.join(' AND ')} ORDER BY email, scope LIMIT @limit`).all({
    workspaceId,
    limit: filter.limit,
    ...(filter.reason !== undefined ? { reason: filter.reason } : {}),
    ...(filter.after !== undefined ? { afterEmail: filter.after.email, afterScope: filter.after.scope } : {}),
  }) as SuppressionRow[];
  return rows.map(toSuppression);
}

/** One statement for the whole list of emails, however long (`json_each` over a JSON array). */
export function findSuppressed(db: Database, workspaceId: string, stream: Stream, emails: string[]): Map<string, SuppressionHit> {
  const found = new Map<string, SuppressionHit>();
  if (emails.length === 0) return found;
  const rows = prepared(
    db,
    `SELECT email, scope, reason FROM suppressions
     WHERE workspace_id = ? AND email IN (SELECT value FROM json_each(?)) AND scope IN (SELECT value FROM json_each(?))`,
  ).all(workspaceId, JSON.stringify(emails), JSON.stringify(scopesBlocking(stream))) as Pick<SuppressionRow, 'email' | 'scope' | 'reason'>[];
  for (const row of rows) found.set(row.email, strongerHit(found.get(row.email), { reason: row.reason, scope: row.scope }));
  return found;
}
