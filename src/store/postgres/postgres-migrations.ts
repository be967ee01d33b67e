/**
 * Applies the numbered SQL files in `migrations/` under a session advisory lock, so that any
 * number of Herald processes may start at once against one database and each migration runs
 * exactly once, in its own transaction.
 */
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import { readMigrations, type Migration } from '../migrations.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Arbitrary, fixed: the advisory lock key all Herald processes agree on for migrations. */
const MIGRATION_LOCK = 7_120_431_001;

export function readPostgresMigrations(): Migration[] {
  return readMigrations(MIGRATIONS_DIR);
}

export async function migratePostgres(pool: Pool, migrations: Migration[] = readPostgresMigrations()): Promise<number> {
  const client = await pool.connect();
  let applied = 0;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const migration of migrations) {
      const seen = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (seen.rowCount) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
        applied += 1;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}
