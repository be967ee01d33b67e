// Herald's intake rate: single-recipient POST /v1/emails against a running `herald serve --role api`
// (SQLite, fsync on every commit: a 202 means on disk), driven by autocannon over loopback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startApiServer } from './server.js';

export async function heraldApi({ seconds, connections }) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-api-'));
  const server = await startApiServer(dir);
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
