/** Chooses the Store adapter from the configuration: PostgreSQL when a URL is given, else SQLite. */
import { join } from 'node:path';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface StoreConfig {
  data: string;
  databaseUrl: string | undefined;
}

/** Opens the configured store and applies pending migrations (under a lock on both backends). */
export async function openStore(config: StoreConfig): Promise<Store> {
  const store: Store =
    config.databaseUrl !== undefined
      ? new PostgresStore({ connectionString: config.databaseUrl })
      : new SqliteStore({ filename: join(config.data, 'herald.db') });
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}
