// The two stores a bench row runs on: embedded SQLite in a temp directory, or a fresh schema of
// the PostgreSQL database given with --postgres (dropped afterwards), so each row starts empty.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../dist/store/postgres/postgres-store.js';
import { SqliteStore } from '../dist/store/sqlite/sqlite-store.js';

/** Null when the server answers; otherwise why the PostgreSQL column is left out. */
export async function postgresUnavailable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return error.message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A place for one row's data. `kind` is 'sqlite' or a PostgreSQL URL. Gives the database URL a
 * `herald serve` process would take (undefined for SQLite: it uses `dir`), and `open()` for an
 * in-process store.
 */
export async function benchStore(kind, { synchronous = 'full' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  if (kind === 'sqlite') {
    return {
      dir,
      databaseUrl: undefined,
      open: async () => {
        const store = new SqliteStore({ filename: join(dir, 'herald.db'), synchronous });
        await store.migrate();
        return store;
      },
      remove: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `herald_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: kind });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(kind);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    dir,
    databaseUrl: url.toString(),
    open: async () => {
      const store = new PostgresStore({ connectionString: kind, schema, poolSize: 10 });
      await store.migrate();
      return store;
    },
    remove: async () => {
      const dropper = new pg.Client({ connectionString: kind });
      await dropper.connect();
      await dropper.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await dropper.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
