// Herald's delivery rate: messages already accepted into the SQLite store, then delivered by the
// engine over the relay transport to the sink, until every outcome is recorded in the store.
import { Engine } from '../dist/engine/engine.js';
import { DEFAULT_RETRY_POLICY } from '../dist/core/retry-policy.js';
import { createIdSource } from '../dist/lib/random-ids.js';
import { createLogger } from '../dist/lib/logger.js';
import { sendEmail } from '../dist/services/send.js';
import { bootstrap } from '../dist/services/workspaces.js';
import { SmtpRelayTransport } from '../dist/transports/smtp-relay.js';
import { benchStore } from './stores.js';

export async function heraldDelivery({ port, messages, connections, deadlineMs, store: kind = 'sqlite' }) {
  const place = await benchStore(kind);
  const store = await place.open();
  const deps = {
    store,
    ids: createIdSource(),
    clock: { now: () => new Date() },
    limits: { apiMaxRecipients: 1000, smtpMaxRecipients: 1000 },
    retry: DEFAULT_RETRY_POLICY,
    // Sends from example.com, which is no verified sending domain (docs/domains.md).
    domains: { allowUnverified: true, operatorDomains: [], dns: {} },
  };
  const admin = await bootstrap(deps);
  const principal = { workspaceId: admin.key.workspaceId, keyId: admin.key.id, scope: 'full' };
  for (let i = 0; i < messages; i += 1000) {
    const to = [];
    for (let j = i; j < Math.min(messages, i + 1000); j++) to.push(`user${j}@example.org`);
    await sendEmail(deps, principal, {
      from: 'Shop <shop@example.com>', to, subject: 'Your order has shipped',
      text: 'Hello,\nyour order is on its way.\n', html: '<p>Hello,</p><p>your order is on its way.</p>',
    }, { individual: true });
  }
  const engine = new Engine({
    store, transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${port}`, maxConnections: connections, verifyTls: false }),
    clock: deps.clock, ids: deps.ids, retry: deps.retry, logger: createLogger('warn'), owner: 'bench',
    leaseSeconds: 120, claimChunk: 500, concurrency: 128, pollIntervalSeconds: 0.05,
  });
  const started = performance.now();
  engine.start();
  while (engine.stats().delivered < messages && performance.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 5));
  await engine.stop(5000);
  const seconds = (performance.now() - started) / 1000;
  const sent = (await store.listMessages(principal.workspaceId, { status: 'sent', limit: messages + 1 })).length;
  await store.close();
  await place.remove();
  return { sent, seconds, rate: sent / seconds };
}
