/**
 * Test harness: a real, isolated store per test file (a fresh SQLite file in a temp directory),
 * the services' dependencies around it, and the list of backends the suite runs against
 * (HERALD_TEST_BACKENDS=sqlite,postgres; default sqlite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../src/core/retry-policy.js';
import { createIdSource } from '../../src/lib/random-ids.js';
import type { Clock } from '../../src/lib/clock.js';
import type { DomainSettings, Principal, ServiceDeps } from '../../src/services/deps.js';
import { createKeySealer } from '../../src/services/domain-keys.js';
import { recordTargets } from '../../src/services/domain-records.js';
import { createKey } from '../../src/services/keys.js';
import { bootstrap, createWorkspace } from '../../src/services/workspaces.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';

export type Backend = 'sqlite' | 'postgres';

export function backends(): Backend[] {
  const list = (process.env.HERALD_TEST_BACKENDS ?? 'sqlite').split(',').map((s) => s.trim()).filter(Boolean);
  return list as Backend[];
}

export function tempDir(prefix = 'herald-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A clock tests can move. */
export class ManualClock implements Clock {
  constructor(private current: Date = new Date()) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(at: Date): void {
    this.current = new Date(at);
  }
}

export interface TestContext {
  store: Store;
  deps: ServiceDeps;
  dataDir: string;
  /** The bootstrap admin principal of the `default` workspace. */
  admin: Principal;
  adminSecret: string;
  adminKeyId: string;
  /** Another connection to the same data, as a second or restarted process opens it; close it yourself. */
  reopen: () => Promise<Store>;
  close: () => Promise<void>;
}

/** The PostgreSQL server tests use: the local one, database `test`, trust auth. */
export const TEST_DATABASE_URL = process.env.HERALD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Opens a fresh, isolated store: a new SQLite file, or a new PostgreSQL schema that `close()` drops.
 */
export async function openTestStore(backend: Backend, dataDir: string): Promise<Store> {
  return (await openIsolatedStore(backend, dataDir)).store;
}

/**
 * A fresh, isolated store, and how to open another connection to the same data (the same SQLite
 * file or PostgreSQL schema), as a second or restarted process would; the caller closes those.
 */
async function openIsolatedStore(backend: Backend, dataDir: string): Promise<{ store: Store; reopen: () => Promise<Store> }> {
  if (backend === 'sqlite') {
    const filename = join(dataDir, 'herald.db');
    const store = new SqliteStore({ filename, synchronous: 'normal' });
    await store.migrate();
    return { store, reopen: async () => new SqliteStore({ filename, synchronous: 'normal' }) };
  }
  const schema = `herald_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 });
  await store.migrate();
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    const dropper = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await dropper.connect();
    await dropper.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await dropper.end();
  };
  return { store, reopen: async () => new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 }) };
}

export async function createTestContext(
  options: {
    backend?: Backend;
    clock?: Clock;
    retry?: Partial<RetryPolicy>;
    apiMaxRecipients?: number;
    batchThreshold?: number;
    /** Sending domains' settings; default: any From domain accepted (as `--allow-unverified`), a random master key. */
    domains?: Partial<DomainSettings>;
  } = {},
): Promise<TestContext> {
  const dir = tempDir();
  const { store, reopen } = await openIsolatedStore(options.backend ?? 'sqlite', dir.path);
  const deps: ServiceDeps = {
    store,
    ids: createIdSource(),
    clock: options.clock ?? { now: () => new Date() },
    limits: { apiMaxRecipients: options.apiMaxRecipients ?? 1000, smtpMaxRecipients: 1000, batchThreshold: options.batchThreshold ?? 100 },
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    domains: {
      allowUnverified: true,
      operatorDomains: [],
      sealer: createKeySealer(randomBytes(32)),
      dns: {},
      targets: recordTargets({ hostname: 'mail.herald.test' }),
      ...options.domains,
    },
  };
  const admin = await bootstrap(deps);
  if (!admin) throw new Error('bootstrap did not create an admin key in a fresh store');
  return {
    store,
    deps,
    dataDir: dir.path,
    admin: { workspaceId: admin.key.workspaceId, keyId: admin.key.id, scope: 'full' },
    adminSecret: admin.secret,
    adminKeyId: admin.key.id,
    reopen,
    close: async () => {
      await store.close();
      dir.remove();
    },
  };
}

/** A second workspace with its own full key, for isolation tests. */
export async function createOtherWorkspace(deps: ServiceDeps, name = 'other'): Promise<{ principal: Principal; secret: string; keyId: string }> {
  await createWorkspace(deps, name);
  const created = await createKey(deps, { workspace: name, name: 'other-admin', scope: 'full' });
  return { principal: { workspaceId: created.key.workspaceId, keyId: created.key.id, scope: 'full' }, secret: created.secret, keyId: created.key.id };
}
