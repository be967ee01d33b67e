/**
 * `herald batch …` as a user runs it: a real `herald serve` (capture delivery, temp data dir),
 * and the CLI as a child process talking to it over HTTP with HERALD_API_URL / HERALD_API_KEY.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, tempDir } from '../helpers/harness.js';
import { REPO_ROOT, runHerald as cli, startHerald, type HeraldProcess } from '../helpers/herald-process.js';

const BIN = `${REPO_ROOT}bin/herald.js`;


/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 1;
}

// A whole process on the default (SQLite) store; the PostgreSQL pass skips it.
describe.runIf(backends().includes('sqlite'))('herald batch (CLI against a running server)', () => {
  const data = tempDir();
  const files = tempDir('herald-cli-batch-');
  let server: HeraldProcess;
  let env: NodeJS.ProcessEnv;
  let sendArgs: string[];
  let batchId = '';

  beforeAll(async () => {
    server = await startHerald({ args: [BIN, 'serve', '--data', data.path, '--http-port', '0', '--smtp-port', '0'] });
    env = { HERALD_API_URL: server.apiUrl, HERALD_API_KEY: server.secret ?? '' };
    const rows = Array.from({ length: 300 }, (_, i) => `person${i}@example.org,Person ${i},C${i}`);
    // Two rows the server refuses at upload: a malformed address and a duplicate.
    writeFileSync(join(files.path, 'list.csv'), ['email,name,code', ...rows, 'not-an-address,Nobody,X', 'person7@example.org,Again,Y', ''].join('\n'));
    writeFileSync(join(files.path, 'welcome.hbs'), '<p>Hello {{name}}, your code is {{code}}.</p>\n');
    sendArgs = ['batch', 'send', '--csv', join(files.path, 'list.csv'), '--template', join(files.path, 'welcome.hbs'), '--subject', 'Welcome, {{name}}', '--from', 'News <news@example.com>', '--tag', 'cli-test'];
  }, 60_000);

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    data.remove();
    files.remove();
  });

  it('sends a CSV, shows progress lines on a non-TTY stderr, and ends with a summary (exit 0)', async () => {
    const run = await cli(sendArgs, env);
    expect(run.code, run.stderr).toBe(0);
    batchId = /Batch (bat_\w+) completed/.exec(run.stdout)?.[1] ?? '';
    expect(batchId).toMatch(/^bat_/);
    expect(run.stdout).toMatch(/^\s+sent\s+300$/m);
    expect(run.stdout).toMatch(/^\s+rejected\s+2\s.*herald batch export bat_/m);
    expect(run.stderr).toContain(`Batch ${batchId} accepted: 300 recipients, 2 rows rejected`);
    expect(run.stderr).toMatch(new RegExp(`^${batchId} \\w+: \\d+/300 +\\d+% · `, 'm'));
    expect(run.stderr).not.toContain('\r');
  });

  it('running the exact same command again finds the same batch instead of sending twice', async () => {
    const run = await cli(sendArgs, env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`Batch ${batchId} was already submitted with this idempotency key`);
    expect(run.stdout).toContain(`Batch ${batchId} completed`);
    const outbox = (await (await fetch(`${server.apiUrl}/v1/outbox?limit=1000`, { headers: { Authorization: `Bearer ${server.secret}` } })).json()) as { data: unknown[] };
    expect(outbox.data).toHaveLength(300);
  });

  it('status --json parses and shows the completed batch', async () => {
    const run = await cli(['batch', 'status', batchId, '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const batch = JSON.parse(run.stdout) as { id: string; status: string; counters: { sent: number; rejected: number } };
    expect(batch).toMatchObject({ id: batchId, status: 'completed', counters: { sent: 300, rejected: 2 } });
    const human = await cli(['batch', 'status', batchId], env);
    expect(human.stdout).toContain(`Batch ${batchId}: completed`);
  });

  it('export streams every recipient as CSV to stdout, header first', async () => {
    const run = await cli(['batch', 'export', batchId], env);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split(/\r?\n/);
    expect(lines[0]).toBe('email,status,reason,smtp_reply,attempts,message_id,accepted_at,updated_at');
    expect(lines).toHaveLength(1 + 302);
    expect(lines.filter((line) => line.includes(',sent,'))).toHaveLength(300);
    expect(run.stderr).toBe('');
  });

  it('a refused key exits 1 with the API’s error code, in one line', async () => {
    const run = await cli(sendArgs, { ...env, HERALD_API_KEY: 'hrld_not-a-real-key' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^herald: invalid_api_key: .+$/);
  });

  it('an unreachable server exits 1 with a clear message', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await cli([...sendArgs, '--api-url', url], env);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`herald: cannot reach Herald at ${url} (ECONNREFUSED); is \`herald serve\` running there? Set --api-url or HERALD_API_URL`);
  });

  it('a missing file exits 1 naming it', async () => {
    const run = await cli(['batch', 'send', '--csv', join(files.path, 'nope.csv'), '--template-id', 'tpl_x', '--from', 'a@example.com'], env);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^herald: --csv .*nope\.csv: no such file$/);
  });

  it('pausing a completed batch exits 1 with batch_state_conflict', async () => {
    const run = await cli(['batch', 'pause', batchId, '--reason', 'too late'], env);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^herald: batch_state_conflict: batch bat_\w+ is completed; pause is not possible now/);
  });
});
