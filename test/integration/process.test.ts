/**
 * Whole-process tests, in one file so that they run one after another: the README quickstart
 * (`npm start`), durability under `kill -9` against a real SMTP sink, and graceful shutdown.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startHerald, REPO_ROOT, type HeraldProcess } from '../helpers/herald-process.js';
import { backends, tempDir } from '../helpers/harness.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const BIN = `${REPO_ROOT}bin/herald.js`;
const run = promisify(execFile);

async function herald(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
  return stdout;
}
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function stopOnExit(herald: HeraldProcess): void {
  cleanups.push(() => {
    if (herald.child.exitCode === null) herald.child.kill('SIGKILL');
    // Under `npm start`, Herald is npm's child: make sure it does not outlive a failed test.
    try {
      if (herald.pid !== herald.child.pid) process.kill(herald.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
}

// These start whole processes on the default (SQLite) store; the PostgreSQL pass skips them.
const onSqlite = backends().includes('sqlite');

describe.runIf(onSqlite)('the README quickstart', () => {
  it('shows npm ci && npm start and npm test on its first screen', () => {
    const firstScreen = readFileSync(`${REPO_ROOT}README.md`, 'utf8').split('\n').slice(0, 25).join('\n');
    expect(firstScreen).toContain('npm ci && npm start');
    expect(firstScreen).toContain('npm test');
  });

  it('npm start serves, prints the admin key once, and the uSpeedo request lands in the outbox', async () => {
    const data = tempDir();
    cleanups.push(data.remove);
    const env = { HERALD_DATA: data.path, HERALD_HTTP_PORT: '0', HERALD_SMTP_PORT: '0' };
    const first = await startHerald({ command: 'npm', args: ['start', '--silent'], env, timeoutMs: 120_000 });
    stopOnExit(first);
    expect(first.keyId).toMatch(/^key_/);
    expect(first.secret).toMatch(/^hrld_/);
    expect(first.output()).toContain('/docs');

    const res = await fetch(`${first.apiUrl}/api/v1/email/SendEmail`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        Authorization: `Basic ${Buffer.from(`${first.keyId}:${first.secret}`).toString('base64')}`,
      },
      body: JSON.stringify({
        SendEmail: 'sender@yourdomain.com',
        TargetEmailAddress: ['user1@example.com', 'user2@example.com'],
        Subject: 'Your Order Confirmation',
        Content: '<html><body><h1>Order Confirmed</h1></body></html>',
        FromName: 'Your Brand',
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { RetCode: number }).RetCode).toBe(0);
    const auth = { Authorization: `Bearer ${first.secret}` };
    const outbox = await waitFor('two captured messages', async () => {
      const list = (await (await fetch(`${first.apiUrl}/v1/outbox`, { headers: auth })).json()) as { data: { message_id: string; to: string }[] };
      return list.data.length === 2 ? list.data : undefined;
    });
    const raw = await (await fetch(`${first.apiUrl}/v1/outbox/${outbox[0]!.message_id}/raw`, { headers: auth })).text();
    expect(raw).toMatch(/^Subject: Your Order Confirmation\r$/m);
    expect(raw).toMatch(/^From: "?Your Brand"? <sender@yourdomain\.com>\r$/m);
    expect(raw).toContain(`To: ${outbox[0]!.to}`);

    // The admin commands work on the same data directory while the server runs.
    const created = JSON.parse(await herald(['keys', 'create', '--name', 'ci', '--scope', 'send', '--json'], env)) as { id: string; secret: string; scope: string };
    expect(created).toMatchObject({ scope: 'send' });
    const sendWith = (secret: string) =>
      fetch(`${first.apiUrl}/v1/emails`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ from: 'ci@example.com', to: 'x@example.org', subject: 'cli key', text: 'hi' }),
      });
    expect((await sendWith(created.secret)).status).toBe(202);
    expect(await herald(['keys', 'list'], env)).toContain(created.id);
    await herald(['keys', 'revoke', created.id], env);
    expect((await sendWith(created.secret)).status).toBe(401);

    // SIGTERM to Herald itself (npm's child): a graceful stop, and npm then exits with its code.
    expect(first.pid).not.toBe(first.child.pid);
    process.kill(first.pid, 'SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await startHerald({ args: [BIN, 'serve'], env });
    stopOnExit(second);
    expect(second.keyId).toBeNull();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});

describe.runIf(onSqlite)('graceful shutdown', () => {
  // Regression: the handlers used to be installed after the banner was printed, so a SIGTERM
  // sent the moment the banner appeared killed the process about half the time.
  it('stops gracefully (exit 0) on a SIGTERM sent the instant the banner appears', async () => {
    const data = tempDir();
    cleanups.push(data.remove);
    for (let i = 0; i < 5; i++) {
      const started = await startHerald({ args: [BIN, 'serve', '--data', data.path, '--http-port', '0', '--smtp-port', '0'] });
      stopOnExit(started);
      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
    }
  }, 120_000);
});

describe.runIf(onSqlite)('durability', () => {
  it('loses no acknowledged message when the server is killed with SIGKILL mid-delivery', async () => {
    const data = tempDir();
    cleanups.push(data.remove);
    const sink: SmtpSink = await startSmtpSink({ dataDelayMs: 15 });
    cleanups.push(() => sink.close());
    const args = [
      BIN, 'serve', '--data', data.path, '--http-port', '0', '--smtp-port', '0',
      '--relay', `smtp://127.0.0.1:${sink.port}`, '--lease-seconds', '2', '--poll-interval', '0.1', '--retry-base', '1',
    ];
    const first = await startHerald({ args });
    stopOnExit(first);
    const secret = first.secret ?? '';
    const acknowledged = new Set<string>();
    let stop = false;
    const sender = async (worker: number) => {
      for (let i = 0; !stop && i < 200; i++) {
        try {
          const res = await fetch(`${first.apiUrl}/v1/emails`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ from: 'app@example.com', to: `w${worker}-${i}@example.org`, subject: `m ${worker}-${i}`, text: 'durable' }),
          });
          if (res.status === 202) for (const m of ((await res.json()) as { messages: { id: string }[] }).messages) acknowledged.add(m.id);
        } catch {
          return; // the server died mid-request: not acknowledged, not counted
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 8 }, (_, w) => sender(w)));
    await waitFor('deliveries under way', async () => (acknowledged.size >= 150 && sink.received.length >= 20 ? true : undefined));
    first.child.kill('SIGKILL');
    stop = true;
    await senders;
    await first.exited;
    const deliveredBeforeKill = sink.received.length;
    expect(acknowledged.size).toBeGreaterThanOrEqual(150);

    const second = await startHerald({ args });
    stopOnExit(second);
    const wanted = [...acknowledged].map((id) => `<${id}@example.com>`);
    await waitFor(
      'every acknowledged message at the sink',
      async () => {
        const seen = new Set(sink.received.map((m) => m.messageId));
        return wanted.every((id) => seen.has(id)) ? true : undefined;
      },
      60_000,
    );
    const counts = new Map<string, number>();
    for (const m of sink.received) counts.set(m.messageId ?? '', (counts.get(m.messageId ?? '') ?? 0) + 1);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    // Duplicates are bounded by what was in flight when the process died: one claimed chunk.
    expect(duplicates).toBeLessThanOrEqual(200);
    const sample = [...acknowledged][0];
    const message = (await (await fetch(`${second.apiUrl}/v1/messages/${sample}`, { headers: { Authorization: `Bearer ${secret}` } })).json()) as { status: string };
    expect(message.status).toBe('sent');
    console.log(`durability: ${acknowledged.size} acknowledged, ${deliveredBeforeKill} delivered before SIGKILL, all delivered after restart, ${duplicates} duplicates`);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
