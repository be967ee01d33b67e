// Herald's intake rate: single-recipient POST /v1/emails against a running `herald serve --role api`
// (SQLite, fsync on every commit: a 202 means on disk), driven by autocannon over loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

function startServer(dir) {
  const child = spawn(process.execPath, [BIN, 'serve', '--role', 'api', '--data', dir, '--http-port', '0', '--smtp-port', '0', '--rate-limit', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HERALD_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const api = /API\s+(http:\/\/\S+)/.exec(out);
      const secret = /Key secret:\s+(\S+)/.exec(out);
      if (api && secret) resolve({ child, url: api[1], secret: secret[1] });
    });
    child.once('exit', (code) => reject(new Error(`herald exited ${code}: ${out}`)));
  });
}

export async function heraldApi({ seconds, connections }) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-api-'));
  const server = await startServer(dir);
  let i = 0;
  const result = await autocannon({
    url: `${server.url}/v1/emails`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ from: 'Shop <shop@example.com>', to: `user${i++}@example.org`, subject: 'Order shipped', text: 'On its way.', html: '<p>On its way.</p>' }),
        }),
      },
    ],
  });
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  const accepted = result['2xx'];
  return { sent: accepted, seconds: result.duration, rate: accepted / result.duration, p99: result.latency.p99, errors: result.non2xx + result.errors };
}
