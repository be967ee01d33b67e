// A personalised batch, end to end in one process: submitted through the batch service (as the
// API does), then delivered by the engine over the relay transport to the sink, until every
// outcome is recorded. Reports accept time, delivery rate and peak RSS.
import { BatchGate } from '../dist/engine/batch-gate.js';
import { BatchSupervisor } from '../dist/engine/batch-supervisor.js';
import { Engine } from '../dist/engine/engine.js';
import { MessageSigner } from '../dist/engine/message-signer.js';
import { DEFAULT_RETRY_POLICY } from '../dist/core/retry-policy.js';
import { createIdSource } from '../dist/lib/random-ids.js';
import { createLogger } from '../dist/lib/logger.js';
import { createBatch } from '../dist/services/batches.js';
import { bootstrap } from '../dist/services/workspaces.js';
import { SmtpRelayTransport } from '../dist/transports/smtp-relay.js';
import { benchStore } from './stores.js';

export const TEMPLATE = {
  from: 'Shop <shop@example.com>',
  subject: 'Your order #{{order}} has shipped, {{name}}',
  text: 'Hello {{name}},\n\nyour order #{{order}} is on its way. Track it at https://shop.example.com/t/{{order}}.\n\nThanks for shopping with us!\n',
  html: '<html><body><p>Hello <b>{{name}}</b>,</p><p>your order <a href="https://shop.example.com/t/{{order}}">#{{order}}</a> is on its way.</p><p>Thanks for shopping with us!</p></body></html>',
};

async function* rows(n) {
  for (let i = 0; i < n; i++) yield { row: i + 1, email: `user${i}@example.org`, name: `Customer ${i}`, variables: { order: String(100000 + i) } };
}

export async function heraldBatch({ port, messages, connections, deadlineMs, signer = null, synchronous = 'full', store: kind = 'sqlite' }) {
  const place = await benchStore(kind, { synchronous });
  const store = await place.open();
  const deps = { store, ids: createIdSource(), clock: { now: () => new Date() }, limits: { apiMaxRecipients: 1000, smtpMaxRecipients: 1000 }, retry: DEFAULT_RETRY_POLICY,
    // Sends from example.com, which is no verified sending domain (docs/domains.md).
    domains: { allowUnverified: true, operatorDomains: [], dns: {} } };
  const admin = await bootstrap(deps);
  const principal = { workspaceId: admin.key.workspaceId, keyId: admin.key.id, scope: 'full' };
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const acceptStarted = performance.now();
  const created = await createBatch(deps, principal, { options: TEMPLATE, recipients: rows(messages), requestHash: () => 'bench' });
  const acceptSeconds = (performance.now() - acceptStarted) / 1000;
  const logger = createLogger('warn');
  const engine = new Engine({
    store, transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${port}`, maxConnections: connections, verifyTls: false }),
    clock: deps.clock, ids: deps.ids, retry: deps.retry, logger, owner: 'bench', leaseSeconds: 300, claimChunk: 1000, concurrency: 256,
    pollIntervalSeconds: 0.02, batches: new BatchGate(store, Date.now, 100), ...(signer ? { signer } : {}),
  });
  const supervisor = new BatchSupervisor({ store, ids: deps.ids, clock: deps.clock, logger, intervalMs: 200 });
  const started = performance.now();
  await supervisor.tick();
  engine.start();
  supervisor.start();
  while (engine.stats().delivered < created.batch.total && performance.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 10));
  await supervisor.stop();
  await engine.stop(5000);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const counts = await store.countBatchMessages(created.batch.id);
  await store.close();
  await place.remove();
  return { sent: counts.sent ?? 0, seconds, rate: (counts.sent ?? 0) / seconds, acceptSeconds, peakRss };
}

export { MessageSigner };
