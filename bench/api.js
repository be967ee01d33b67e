// Herald's intake rate: single-recipient POST /v1/emails against a running `herald serve --role api`
// (SQLite, fsync on every commit: a 202 means on disk), driven by autocannon over loopback.
import autocannon from 'autocannon';
import { startApiServer } from './server.js';
import { benchStore } from './stores.js';

export async function heraldApi({ seconds, connections, store: kind = 'sqlite' }) {
  const place = await benchStore(kind);
  const server = await startApiServer(place.dir, place.databaseUrl);
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
  await place.remove();
  const accepted = result['2xx'];
  return { sent: accepted, seconds: result.duration, rate: accepted / result.duration, p99: result.latency.p99, errors: result.non2xx + result.errors };
}
