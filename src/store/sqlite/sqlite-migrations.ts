/**
 * Applies the numbered SQL files in `migrations/` that the database has not seen yet, in order,
 * each in its own transaction under SQLite's write lock (BEGIN IMMEDIATE), so that several
 * processes starting on one data directory apply each migration exactly once.
 */
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { readMigrations, type Migration } from '../migrations.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export function migrateSqlite(db: Database, migrations: Migration[] = readMigrations(MIGRATIONS_DIR)): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  let applied = 0;
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      const seen = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version);
      if (seen) return false;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
      return true;
    });
    if (apply.immediate()) applied += 1;
  }
  return applied;
}
