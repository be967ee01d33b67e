/**
 * Direct-to-MX delivery through the engine, shaped per destination provider: a domain whose MX
 * host is Google's name (served by a real DNS server on loopback, resolving to a local sink) is
 * shaped as `google`; messages over the budget are held back and requeued without counting as
 * attempts or writing deferral events, and every one is delivered once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/lib/logger.js';
import { getMessage } from '../../src/services/messages.js';
import { sendEmail } from '../../src/services/send.js';
import { MxTransport } from '../../src/transports/mx/mx-transport.js';
import { TrafficShaper } from '../../src/transports/shaping/traffic-shaper.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

for (const backend of backends()) {
  describe(`direct-to-MX delivery with traffic shaping (${backend})`, () => {
    let ctx: TestContext;
    let dns: TestDnsServer;
    let sink: SmtpSink;
    let engine: Engine;
    const shaper = new TrafficShaper({ overrides: { google: { messagesPerMinute: 600, maxConnections: 2 } } });

    beforeAll(async () => {
      ctx = await createTestContext({ backend });
      sink = await startSmtpSink();
      dns = await startDnsServer({
        'workspace.test': { mx: [[5, 'aspmx.l.google.com']] },
        'aspmx.l.google.com': { a: ['127.0.0.1'] },
      });
      const transport = new MxTransport({
        resolver: { servers: [dns.address], timeoutMs: 2000 },
        port: sink.port,
        clientName: 'herald.test',
        allowPrivate: true,
        shaper,
      });
      engine = new Engine({
        store: ctx.store, transport, clock: ctx.deps.clock, ids: ctx.deps.ids, retry: ctx.deps.retry,
        logger: createLogger('silent'), owner: 'mx-worker', leaseSeconds: 30, claimChunk: 100, concurrency: 32, pollIntervalSeconds: 0.05,
      });
      ctx.deps.wake = () => engine.wake();
      engine.start();
    });
    afterAll(async () => {
      await engine.stop(2000);
      await sink.close();
      await dns.close();
      await ctx.close();
    });

    it('holds messages over the provider budget and delivers each exactly once, as one attempt', async () => {
      const to = Array.from({ length: 80 }, (_, i) => `user${i}@workspace.test`);
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to, subject: 'shaped', text: 'x' }, { individual: true });
      await waitFor('80 deliveries', () => (sink.received.length >= 80 ? true : undefined), 20_000);
      const last = sent.messages.at(-1)!;
      const done = await waitFor('the last message recorded as sent', async () => {
        const m = await getMessage(ctx.deps, ctx.admin, last.id);
        return m.message.status === 'sent' ? m : undefined;
      });
      expect(done.message.attempts).toBe(1);
      expect(done.events.map((e) => e.type)).toEqual(['message.accepted', 'message.sent']);
      expect(done.message.lastReply).toMatch(/via aspmx\.l\.google\.com/);
      const perRecipient = new Map<string, number>();
      for (const mail of sink.received) for (const rcpt of mail.to) perRecipient.set(rcpt, (perRecipient.get(rcpt) ?? 0) + 1);
      expect(perRecipient.size).toBe(80);
      expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
      const row = shaper.snapshot().find((r) => r.destination === 'google');
      expect(row).toMatchObject({ provider: 'google', sentLastMinute: 80, inFlight: 0 });
      // At most maxConnections sends in flight means never more than two connections at once
      // (more over time: Google's messages-per-connection limit renews them).
      expect(sink.maxConcurrent()).toBeLessThanOrEqual(2);
    });
  });
}
