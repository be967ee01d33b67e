// Batch intake over HTTP: N recipients streamed as NDJSON to a running `herald serve --role api`,
// timed to the 202 (every row committed), with the server's peak RSS read from /proc.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { startApiServer } from './server.js';
import { benchStore } from './stores.js';

function peakRss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

export async function acceptNdjson({ recipients, store: kind = 'sqlite' }) {
  const place = await benchStore(kind);
  const started0 = await startApiServer(place.dir, place.databaseUrl);
  const server = { ...started0, url: new URL(started0.url) };
  const started = performance.now();
  const status = await new Promise((resolve, reject) => {
    const req = request({ host: server.url.hostname, port: server.url.port, path: '/v1/batches', method: 'POST', headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'application/x-ndjson' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.write(`${JSON.stringify({ from: 'Shop <shop@example.com>', subject: 'Hi {{name}}', text: 'Order {{order}}', send_at: new Date(Date.now() + 86_400_000).toISOString() })}\n`);
    let i = 0;
    const pump = () => {
      while (i < recipients) {
        const chunk = [];
        for (let j = 0; j < 1000 && i < recipients; j++, i++) chunk.push(`{"email":"user${i}@example.org","name":"Customer ${i}","variables":{"order":"${100000 + i}"}}\n`);
        if (!req.write(chunk.join(''))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  const rss = peakRss(server.child.pid);
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  await place.remove();
  if (status !== 202) throw new Error(`accept answered ${status}`);
  return { seconds, rate: recipients / seconds, peakRss: rss };
}
