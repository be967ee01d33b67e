/**
 * The delivery engine end to end: messages accepted through the service, claimed, composed and
 * delivered over a real SMTP connection to a sink on loopback, with every outcome recorded as a
 * state and an event: sent, deferred then retried, bounced hard or soft, failed at max age.
 */
import { createServer, type AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { MessageSigner } from '../../src/engine/message-signer.js';
import { loadDkimKeys } from '../../src/mime/dkim-keys.js';
import { DkimSignerPool } from '../../src/mime/dkim-pool.js';
import { createLogger } from '../../src/lib/logger.js';
import { getMessage } from '../../src/services/messages.js';
import { listOutbox, getOutboxRaw } from '../../src/services/outbox.js';
import { sendEmail } from '../../src/services/send.js';
import { CaptureTransport } from '../../src/transports/capture.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import type { Transport } from '../../src/transports/transport.js';
import { backends, createTestContext, tempDir, type TestContext } from '../helpers/harness.js';
import { SinkReply, startSmtpSink, type SinkOptions, type SmtpSink } from '../helpers/smtp-sink.js';
import { dkimKeyPair, dkimRecord, verifyDkim } from '../helpers/dkim-verify.js';
import { waitFor } from '../helpers/wait.js';

const FAST_RETRY = { baseSeconds: 0.05, maxDelaySeconds: 0.2, maxAgeSeconds: 3 };

for (const backend of backends()) {
  describe(`delivery engine (${backend})`, () => {
    let ctx: TestContext;
    let sink: SmtpSink | null = null;
    let engine: Engine | null = null;
    afterEach(async () => {
      await engine?.stop(2000);
      await sink?.close();
      await ctx.close();
      engine = null;
      sink = null;
    });

    async function setUp(options: { sink?: SinkOptions; transport?: Transport; port?: number; signer?: MessageSigner } = {}) {
      ctx = await createTestContext({ backend, retry: FAST_RETRY });
      if (!options.transport && options.port === undefined) sink = await startSmtpSink(options.sink);
      const transport =
        options.transport ??
        new SmtpRelayTransport({ url: `smtp://127.0.0.1:${options.port ?? sink?.port}`, maxConnections: 2, verifyTls: false });
      engine = new Engine({
        store: ctx.store, transport, clock: ctx.deps.clock, ids: ctx.deps.ids, retry: ctx.deps.retry,
        logger: createLogger('silent'), owner: 'test-worker', leaseSeconds: 30, claimChunk: 50, concurrency: 16, pollIntervalSeconds: 0.05,
        ...(options.signer ? { signer: options.signer } : {}),
      });
      ctx.deps.wake = () => engine?.wake();
      engine.start();
    }

    async function settled(id: string, status: string) {
      return waitFor(`message ${id} to be ${status}`, async () => {
        const found = await getMessage(ctx.deps, ctx.admin, id);
        return found.message.status === status ? found : undefined;
      });
    }

    it('delivers over reused connections and records sent with the reply and an event', async () => {
      await setUp();
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const sent = await sendEmail(ctx.deps, ctx.admin, {
          from: 'Shop <shop@example.com>', to: `r${i}@example.org`, subject: `Hello ${i} ✓`, text: 'Plain', html: '<p>Rich</p>', tags: ['t1'],
        });
        ids.push(sent.messages[0]!.id);
      }
      const last = await settled(ids[39]!, 'sent');
      await waitFor('all 40 at the sink', () => (sink!.received.length >= 40 ? true : undefined));
      expect(sink!.connections()).toBeLessThanOrEqual(2);
      expect(last.message.lastReply).toMatch(/^250/);
      expect(last.events.map((e) => e.type)).toEqual(['message.accepted', 'message.sent']);
      expect(last.events[1]!.data).toMatchObject({ transport: 'smtp', attempt: 1, tags: ['t1'] });
      const mail = sink!.received.find((m) => m.to[0] === 'r39@example.org')!;
      expect(mail.from).toBe('shop@example.com');
      const parsed = await simpleParser(mail.raw);
      expect(parsed.subject).toBe('Hello 39 ✓');
      expect(parsed.text?.trim()).toBe('Plain');
      expect(parsed.html).toContain('<p>Rich</p>');
      expect(parsed.messageId).toBe(last.message.messageIdHeader);
    });

    it('signs with every key of the From domain (RSA and Ed25519) on the worker pool; mailauth verifies both', async () => {
      const rsa = dkimKeyPair('rsa');
      const ed = dkimKeyPair('ed25519');
      const keyDir = tempDir('herald-dkim-');
      const rsaPath = join(keyDir.path, 'rsa.pem');
      const edPath = join(keyDir.path, 'ed.pem');
      writeFileSync(rsaPath, rsa.privatePem);
      writeFileSync(edPath, ed.privatePem);
      const keys = loadDkimKeys([`example.com:s2026:${rsaPath}`, `example.com:ed2026:${edPath}`]);
      keyDir.remove();
      await setUp({ signer: new MessageSigner(new DkimSignerPool({ threads: 2 }), keys) });
      await sendEmail(ctx.deps, ctx.admin, { from: 'Shop <shop@example.com>', to: 'signed@example.org', subject: 'Signed ✓', text: 'a\r\n.dot line\r\n', html: '<p>x</p>' });
      await sendEmail(ctx.deps, ctx.admin, { from: 'other@unsigned.example', to: 'plain@example.org', subject: 'Plain', text: 'x' });
      await waitFor('both at the sink', () => (sink!.received.length >= 2 ? true : undefined));
      const signed = sink!.received.find((m) => m.to[0] === 'signed@example.org')!;
      const records = new Map([['s2026._domainkey.example.com', dkimRecord(rsa.publicKey)], ['ed2026._domainkey.example.com', dkimRecord(ed.publicKey)]]);
      const verdicts = await verifyDkim(signed.raw, records);
      expect(verdicts.map((v) => [v.status.result, v.selector]).sort()).toEqual([['pass', 'ed2026'], ['pass', 's2026']]);
      const plain = sink!.received.find((m) => m.to[0] === 'plain@example.org')!;
      expect(plain.raw).not.toMatch(/^DKIM-Signature:/im);
    });

    it('defers on 4xx and retries until the server takes it', async () => {
      let refusals = 2;
      await setUp({
        sink: { onRecipient: () => (refusals-- > 0 ? new SinkReply(451, '4.7.1 greylisted, try later') : null) },
      });
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'grey@example.org', subject: 'g', text: 'x' });
      const done = await settled(sent.messages[0]!.id, 'sent');
      expect(done.events.map((e) => e.type)).toEqual(['message.accepted', 'message.deferred', 'message.deferred', 'message.sent']);
      expect(done.events[1]!.data).toMatchObject({ code: 451, reply: expect.stringMatching(/greylisted/), retry_at: expect.any(String) });
      expect(done.message.attempts).toBe(3);
    });

    it('classifies 5xx replies as hard or soft bounces by the enhanced status code', async () => {
      await setUp({
        sink: {
          onRecipient: (address) =>
            address.startsWith('gone') ? new SinkReply(550, '5.1.1 user unknown') : address.startsWith('full') ? new SinkReply(552, '5.2.2 mailbox full') : null,
        },
      });
      const hard = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'gone@example.org', subject: 'h', text: 'x' });
      const soft = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'full@example.org', subject: 's', text: 'x' });
      const h = await settled(hard.messages[0]!.id, 'bounced');
      const s = await settled(soft.messages[0]!.id, 'bounced');
      expect(h.message.bounceClass).toBe('hard');
      expect(s.message.bounceClass).toBe('soft');
      expect(h.events.at(-1)).toMatchObject({ type: 'message.bounced', data: { bounce_class: 'hard', enhanced_status: '5.1.1', code: 550 } });
    });

    // Regression: a NUL byte in a server's reply made PostgreSQL refuse the chunk of outcomes,
    // retried forever, and the worker stopped claiming behind it.
    it('records a reply with NUL bytes and control characters, cleaned, and goes on delivering', async () => {
      // A bare-bones server that answers RCPT for odd@ with NUL and BEL bytes in its text (the
      // test sink's SMTP library would clean them itself).
      const server = createServer((socket) => {
        socket.write('220 odd.example ESMTP\r\n');
        let buffered = '';
        socket.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('latin1');
          let end: number;
          while ((end = buffered.indexOf('\r\n')) >= 0) {
            const line = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const verb = line.slice(0, 4).toUpperCase();
            if (verb === 'EHLO') socket.write('250-odd.example\r\n250 PIPELINING\r\n');
            else if (verb === 'MAIL' || verb === 'RSET' || verb === 'NOOP') socket.write('250 2.0.0 ok\r\n');
            else if (verb === 'RCPT') socket.write(line.includes('odd@') ? '550 5.1.1 no\u0000such\u0007 user\r\n' : '550 5.1.1 unknown\r\n');
            else if (verb === 'DATA') socket.write('554 5.5.1 no valid recipients\r\n');
            else if (verb === 'QUIT') socket.end('221 2.0.0 bye\r\n');
          }
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        await setUp({ port: (server.address() as AddressInfo).port });
        const odd = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'odd@example.org', subject: 'o', text: 'x' });
        const bounced = await settled(odd.messages[0]!.id, 'bounced');
        expect(bounced.message.lastReply).toContain('5.1.1 nosuch user');
        // The worker is not wedged behind that outcome: the next message is taken and answered too.
        const next = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'next@example.org', subject: 'n', text: 'x' });
        await settled(next.messages[0]!.id, 'bounced');
      } finally {
        await engine?.stop(2000);
        engine = null;
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('fails a message that is still deferred at its maximum age', async () => {
      await setUp({ sink: { onRecipient: () => new SinkReply(421, '4.3.2 not now') } });
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'never@example.org', subject: 'n', text: 'x' });
      const failed = await settled(sent.messages[0]!.id, 'failed');
      expect(failed.events.at(-1)).toMatchObject({ type: 'message.failed', data: { reason: 'expired' } });
      expect(failed.message.attempts).toBeGreaterThan(1);
    });

    it('defers, never loses, when the smart host cannot be reached', async () => {
      await setUp({ port: 1 });
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'x@example.org', subject: 'n', text: 'x' });
      const found = await waitFor('a deferral', async () => {
        const m = await getMessage(ctx.deps, ctx.admin, sent.messages[0]!.id);
        return m.events.some((e) => e.type === 'message.deferred') ? m : undefined;
      });
      expect(found.events.find((e) => e.type === 'message.deferred')!.data).toMatchObject({ code: 0 });
    });

    it('defers, never bounces, when the smart host refuses Herald\'s credentials', async () => {
      const { SMTPServer } = await import('smtp-server');
      const server = new SMTPServer({
        authOptional: false, allowInsecureAuth: true, disabledCommands: ['STARTTLS'], logger: false,
        onAuth: (_auth, _session, callback) => callback(new Error('bad credentials')),
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      try {
        await setUp({ transport: new SmtpRelayTransport({ url: `smtp://user:wrong@127.0.0.1:${port}`, maxConnections: 1, verifyTls: false }) });
        const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'x@example.org', subject: 'n', text: 'x' });
        const found = await waitFor('a deferral', async () => {
          const m = await getMessage(ctx.deps, ctx.admin, sent.messages[0]!.id);
          return m.events.some((e) => e.type === 'message.deferred') ? m : undefined;
        });
        expect(found.message.bounceClass).toBeNull();
        expect(found.events.find((e) => e.type === 'message.deferred')!.data).toMatchObject({ reply: expect.stringMatching(/authentication/) });
      } finally {
        await engine?.stop(1000);
        engine = null;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it('keeps the exact bytes in the outbox with the capture transport', async () => {
      await setUp({ transport: new CaptureTransport() });
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: ['x@example.org', 'y@example.org'], subject: 'cap', text: 'kept' });
      await settled(sent.messages[1]!.id, 'sent');
      const page = await listOutbox(ctx.deps, ctx.admin, {});
      expect(page.data.map((e) => e.recipient).sort()).toContain('y@example.org');
      const raw = await getOutboxRaw(ctx.deps, ctx.admin, sent.messages[0]!.id);
      expect(raw).toMatch(/^To: x@example\.org, y@example\.org\r$/m);
      expect(raw).toContain('kept');
    });

    it('returns claimed but unsent messages to the queue on stop', async () => {
      await setUp({ sink: { dataDelayMs: 200 } });
      const sent = await sendEmail(ctx.deps, ctx.admin, {
        from: 'a@example.com', to: Array.from({ length: 60 }, (_, i) => `q${i}@example.org`), subject: 'q', text: 'x',
      });
      await waitFor('first deliveries', () => (sink!.received.length > 0 ? true : undefined));
      await engine!.stop(5000);
      engine = null;
      const statuses = await Promise.all(sent.messages.map(async (m) => (await getMessage(ctx.deps, ctx.admin, m.id)).message.status));
      expect(statuses.filter((s) => s === 'sending')).toHaveLength(0);
      expect(statuses.filter((s) => s === 'sent').length).toBe(sink!.received.length);
      expect(statuses.filter((s) => s === 'queued').length).toBe(60 - sink!.received.length);
    });
  });
}
