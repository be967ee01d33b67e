/**
 * Prepared statements, compiled once per database connection and reused: better-sqlite3's
 * prepare costs far more than a run, and the query functions are called per row on hot paths.
 * Keyed weakly by the connection, so a closed store takes its statements with it.
 */
import type { Database, Statement } from 'better-sqlite3';

const byDatabase = new WeakMap<Database, Map<string, Statement>>();

export function prepared(db: Database, sql: string): Statement {
  let statements = byDatabase.get(db);
  if (!statements) {
    statements = new Map();
    byDatabase.set(db, statements);
  }
  let statement = statements.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
}
