/**
 * Several Herald processes over one PostgreSQL database, as docs/deploy.md describes: an API
 * process and workers started as real `herald serve --role …` processes, delivering to a real
 * SMTP sink, and losing one of them — a worker (SIGKILL), the API mid-upload (SIGKILL), the
 * database itself (restarted). Runs in the PostgreSQL pass (`npm run test:pg`); the database
 * restart uses a server of the test's own, so the shared one stays up for the other files.
 */
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { backends, tempDir, TEST_DATABASE_URL } from '../helpers/harness.js';
import { REPO_ROOT, startHerald, type HeraldProcess } from '../helpers/herald-process.js';
import { startPrivatePostgres, unavailableReason, type PrivatePostgres } from '../helpers/private-postgres.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const BIN = `${REPO_ROOT}bin/herald.js`;
const onPostgres = backends().includes('postgres');
/** Every process signs links with the same key, as a deployment must configure it. */
const SECRET_KEY = randomBytes(24).toString('hex');

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A fresh schema on the given server, and a database URL that works in it. */
async function freshSchema(baseUrl: string): Promise<string> {
  const schema = `herald_scale_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  cleanups.push(async () => {
    const dropper = new pg.Client({ connectionString: baseUrl });
    await dropper.connect().catch(() => undefined);
    await dropper.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await dropper.end().catch(() => undefined);
  });
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function count(databaseUrl: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(sql);
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

async function serve(role: 'api' | 'worker', databaseUrl: string, extra: string[] = []): Promise<HeraldProcess> {
  const data = tempDir();
  cleanups.push(data.remove);
  const process = await startHerald({
    args: [BIN, 'serve', '--role', role, '--database-url', databaseUrl, '--data', data.path, '--http-port', '0', '--smtp-port', '0', '--secret-key', SECRET_KEY, '--allow-unverified', 'true', ...extra],
  });
  cleanups.push(() => {
    if (process.child.exitCode === null) process.child.kill('SIGKILL');
  });
  // A process that dies on its own shows why, whatever the test was waiting for at the time.
  process.child.once('exit', (code, signal) => {
    if (code !== 0 && signal === null) console.error(`herald --role ${role} exited with ${code}:\n${process.output().slice(-4000)}`);
  });
  return process;
}

function workerArgs(sink: SmtpSink): string[] {
  return ['--relay', `smtp://127.0.0.1:${sink.port}`, '--lease-seconds', '10', '--poll-interval', '0.2', '--retry-base', '1'];
}

function ndjson(recipients: number, from = 0): string {
  const lines = [JSON.stringify({ from: 'news@example.com', subject: 'Hello {{name}}', text: 'Hi {{name}}' })];
  for (let i = from; i < from + recipients; i++) lines.push(JSON.stringify({ email: `r${i}@example.org`, name: `R${i}` }));
  return `${lines.join('\n')}\n`;
}

async function api(base: string, secret: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, headers: { Authorization: `Bearer ${secret}`, ...init.headers } });
}

/** Deliveries at the sink to the batch's recipients (`r<i>@…`): how many distinct, how many twice. */
function delivery(sink: SmtpSink): { distinct: number; duplicates: number } {
  const seen = new Set<string>();
  let total = 0;
  for (const mail of sink.received) {
    for (const to of mail.to) {
      if (!/^r\d+@/.test(to)) continue;
      seen.add(to);
      total += 1;
    }
  }
  return { distinct: seen.size, duplicates: total - seen.size };
}

async function batchStatus(base: string, secret: string, id: string): Promise<string> {
  const res = await api(base, secret, `/v1/batches/${id}`);
  return ((await res.json()) as { status: string }).status;
}

describe.runIf(onPostgres)('scale-out: one API process and three workers on one database', () => {
  it('delivers a 50,000-recipient batch when a worker is killed with SIGKILL mid-way: nothing lost, duplicates bounded', async () => {
    const url = await freshSchema(TEST_DATABASE_URL);
    const sink = await startSmtpSink();
    cleanups.push(() => sink.close());
    // All four start at once on an empty schema: migrations run once, under the advisory lock.
    const [apiProcess, ...workers] = await Promise.all([serve('api', url), serve('worker', url, workerArgs(sink)), serve('worker', url, workerArgs(sink)), serve('worker', url, workerArgs(sink))]);
    const secret = [apiProcess, ...workers].map((p) => p.secret).find((s) => s !== null);
    expect(secret).toBeTruthy();
    expect(await count(url, 'SELECT count(*) AS n FROM schema_migrations')).toBeGreaterThanOrEqual(7);

    const total = 50_000;
    const res = await api(apiProcess.apiUrl, secret!, '/v1/batches', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ndjson(total) });
    expect(res.status).toBe(202);
    const batch = (await res.json()) as { id: string; total: number };
    expect(batch.total).toBe(total);

    await waitFor('a fifth of the batch delivered', () => (delivery(sink).distinct >= total / 5 ? true : undefined), 120_000);
    const victim = workers[0]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const atKill = delivery(sink).distinct;

    await waitFor('every recipient delivered', () => (delivery(sink).distinct === total ? true : undefined), 300_000);
    await waitFor('the batch completed', async () => ((await batchStatus(apiProcess.apiUrl, secret!, batch.id)) === 'completed' ? true : undefined), 60_000);
    const { duplicates } = delivery(sink);
    // Only what the killed worker had claimed and not yet recorded can go twice: its local queue
    // (at most a chunk, 500), its deliveries in flight (128) and the outcomes waiting for their
    // commit (the engine claims no more while a chunk's worth waits).
    expect(duplicates).toBeLessThanOrEqual(2 * 500 + 128);
    const status = (await (await api(apiProcess.apiUrl, secret!, `/v1/batches/${batch.id}`)).json()) as { counters: Record<string, number> };
    expect(status.counters.sent).toBe(total);
    console.log(`scale-out: ${total} recipients, worker killed after ${atKill} deliveries, all delivered, ${duplicates} duplicates`);
    for (const p of [apiProcess, ...workers.slice(1)]) p.child.kill('SIGTERM');
    for (const p of [apiProcess, ...workers.slice(1)]) expect(await p.exited).toBe(0);
  }, 420_000);

  it('leaves no batch behind when the API process is killed mid-upload', async () => {
    const url = await freshSchema(TEST_DATABASE_URL);
    const sink = await startSmtpSink();
    cleanups.push(() => sink.close());
    const first = await serve('api', url);
    const worker = await serve('worker', url, [...workerArgs(sink), '--batch-upload-timeout', '2']);
    const secret = first.secret!;
    const body = ndjson(200_000);
    // Stream the upload, and kill the API once the server has stored a good part of it.
    const target = new URL('/v1/batches', first.apiUrl);
    const upload = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/x-ndjson' } });
    const answered = new Promise<string>((resolve) => {
      upload.on('response', (res) => resolve(`answered ${res.statusCode}`));
      upload.on('error', (error) => resolve(`failed: ${error.message}`));
    });
    const piece = 64 * 1024;
    for (let at = 0; at < body.length / 2; at += piece) {
      if (!upload.write(body.slice(at, at + piece))) await new Promise((resolve) => upload.once('drain', resolve));
    }
    await waitFor('rows stored', async () => ((await count(url, 'SELECT count(*) AS n FROM messages')) > 10_000 ? true : undefined), 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    upload.destroy();
    expect(await answered).toMatch(/^failed/);
    expect(await count(url, "SELECT count(*) AS n FROM batches WHERE status = 'validating'")).toBe(1);

    // A new API process: the half-uploaded batch is nowhere to be seen, and the janitor removes it.
    const second = await serve('api', url);
    const list = (await (await api(second.apiUrl, secret, '/v1/batches')).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
    await waitFor('the abandoned upload deleted', async () => ((await count(url, 'SELECT count(*) AS n FROM batches')) === 0 ? true : undefined), 60_000);
    expect(await count(url, 'SELECT count(*) AS n FROM messages')).toBe(0);
    expect(sink.received).toEqual([]);
    for (const p of [second, worker]) p.child.kill('SIGTERM');
    for (const p of [second, worker]) expect(await p.exited).toBe(0);
  }, 240_000);
});

const noPrivateServer = onPostgres ? unavailableReason() : 'not the PostgreSQL pass';
describe.runIf(onPostgres && noPrivateServer === null)('scale-out: the database restarted mid-batch', () => {
  it('answers 503 (never 500, never a false 202) while the database is away, reconnects, and loses nothing', async () => {
    const server: PrivatePostgres = await startPrivatePostgres();
    cleanups.push(() => server.destroy());
    const sink = await startSmtpSink({ dataDelayMs: 2 });
    cleanups.push(() => sink.close());
    const apiProcess = await serve('api', server.url);
    const workers = await Promise.all([serve('worker', server.url, workerArgs(sink)), serve('worker', server.url, workerArgs(sink))]);
    const secret = apiProcess.secret!;
    const total = 5_000;
    const res = await api(apiProcess.apiUrl, secret, '/v1/batches', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: ndjson(total) });
    expect(res.status).toBe(202);
    const batch = (await res.json()) as { id: string };
    await waitFor('deliveries under way', () => (delivery(sink).distinct >= 500 ? true : undefined), 120_000);

    // Single sends all through the outage: each answer is 202 (stored) or 503 (nothing stored).
    const statuses = new Map<number, number>();
    const acknowledged: string[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending && i < 5000; i++) {
        const r = await api(apiProcess.apiUrl, secret, '/v1/emails', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: 'app@example.com', to: `single${i}@example.org`, subject: `single ${i}`, text: 'x' }),
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const answer = (await r.json()) as { messages?: { id: string }[]; error?: { code: string } };
        if (r.status === 202) for (const m of answer.messages ?? []) acknowledged.push(m.id);
        else expect(answer.error?.code).toBe('store_unavailable');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const ready = await fetch(`${apiProcess.apiUrl}/readyz`);
    expect(ready.status).toBe(503);
    await server.start();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    sending = false;
    await sender;

    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    await waitFor('every batch recipient delivered', () => (delivery(sink).distinct === total ? true : undefined), 180_000);
    const wanted = acknowledged.map((id) => `<${id}@example.com>`);
    await waitFor('every acknowledged single send delivered', () => {
      const seen = new Set(sink.received.map((m) => m.messageId));
      return wanted.every((id) => seen.has(id)) ? true : undefined;
    }, 120_000);
    await waitFor('the batch completed', async () => ((await batchStatus(apiProcess.apiUrl, secret, batch.id)) === 'completed' ? true : undefined), 60_000);
    for (const p of [apiProcess, ...workers]) expect(p.child.exitCode).toBeNull();
    console.log(`database restart: answers ${JSON.stringify(Object.fromEntries(statuses))}, ${acknowledged.length} acknowledged and delivered, ${delivery(sink).duplicates} duplicates`);
    for (const p of [apiProcess, ...workers]) p.child.kill('SIGTERM');
    for (const p of [apiProcess, ...workers]) expect(await p.exited).toBe(0);
  }, 420_000);
});

describe.runIf(onPostgres && noPrivateServer !== null)('scale-out: the database restarted mid-batch', () => {
  it.skip(`needs a PostgreSQL server of its own: ${noPrivateServer}`, () => undefined);
});
