/**
 * A PostgreSQL server of the test's own (initdb into a temp directory, on a free loopback port),
 * for tests that stop and restart the database: the shared server on 5432 must stay up for the
 * other test files running at the same time. Needs the server binaries (Debian's
 * /usr/lib/postgresql/N/bin); as root, the server runs as the `postgres` user. `available()` says
 * whether this machine can do it, so a test can skip with a reason instead of failing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) if (existsSync(join(root, version, 'bin', 'postgres'))) return join(root, version, 'bin');
  return null;
}

function postgresUser(): { uid: number; gid: number } | null {
  const result = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (result.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(result.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const isRoot = process.getuid?.() === 0;

/** Null when the server can run here; otherwise why not. */
export function unavailableReason(): string | null {
  if (!binDir()) return 'no PostgreSQL server binaries under /usr/lib/postgresql';
  if (isRoot && !postgresUser()) return 'running as root without a postgres user to run the server as';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PrivatePostgres {
  url: string;
  port: number;
  /** Fast shutdown (SIGINT: connections are terminated), resolved once the server is gone. */
  stop: () => Promise<void>;
  /** Starts it again on the same port and data, resolved once it accepts connections. */
  start: () => Promise<void>;
  /** Stops it and removes its data. */
  destroy: () => Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const reason = unavailableReason();
  if (reason) throw new Error(reason);
  const bin = binDir() as string;
  const owner = isRoot ? postgresUser() : null;
  const dir = mkdtempSync(join(tmpdir(), 'herald-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  // As root, the server runs as `postgres` (it refuses to run as root): spawn's uid/gid, so that
  // signals reach the server itself and not a wrapper.
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const made = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8', cwd: dir, ...as });
  if (made.status !== 0) throw new Error(`initdb failed: ${made.stderr}`);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let server: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'];
    const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...as });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    server = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start:\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const stop = async () => {
    if (!server || server.exitCode !== null) return;
    server.kill('SIGINT');
    await exited;
    server = null;
  };
  await start();
  return {
    url,
    port,
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
