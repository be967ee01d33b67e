/**
 * Return paths aligned with verified sending domains, end to end: mail whose From domain is a
 * verified sending domain of its workspace leaves (through a real SMTP sink) with MAIL FROM
 * `bounces+<token>@bounces.<domain>`, the host its published return-path record aliases, so SPF
 * aligns with the From domain; the DKIM signature still verifies (mailauth) with tracking and
 * VERP on; a DSN to that address at the bounce listener bounces and suppresses. Mail from other
 * domains keeps the bounce domain (or its own sender without one), and the listener refuses
 * `bounces.<d>` hosts of domains nobody verified.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageSigner } from '../../src/engine/message-signer.js';
import { createLogger } from '../../src/lib/logger.js';
import { DkimSignerPool } from '../../src/mime/dkim-pool.js';
import type { Principal } from '../../src/services/deps.js';
import { createDomain } from '../../src/services/domains.js';
import { StoreDkimKeys } from '../../src/services/domain-signing-keys.js';
import type { FeedbackSettings } from '../../src/services/feedback.js';
import { sendEmail } from '../../src/services/send.js';
import { suppressedAmong } from '../../src/services/suppressions.js';
import { startBounceServer, type BounceServer } from '../../src/smtp/bounce-server.js';
import { bounceAddress } from '../../src/tracking/verp.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import { verifyDkim } from '../helpers/dkim-verify.js';
import { backends, createOtherWorkspace, createTestContext, type Backend, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const BOUNCE_DOMAIN = 'bounce.herald.test';
const VERIFIED = 'aligned.example.com';
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url)).toString('latin1');

/** One process's delivering and bounce-receiving half, with or without `--bounce-domain`. */
interface Setup {
  ctx: TestContext;
  keys: StoreDkimKeys;
  sink: SmtpSink;
  pipeline: Pipeline;
  listener: BounceServer;
  /** The DKIM record of each verified domain: `selector._domainkey.domain` → TXT. */
  dkimRecords: Map<string, string>;
  close: () => Promise<void>;
}

async function setUp(backend: Backend, key: Buffer, bounceDomain: string | null): Promise<Setup> {
  const ctx = await createTestContext({ backend });
  ctx.deps.tracking = { defaults: { opens: false, clicks: false } };
  const keys = new StoreDkimKeys({ store: ctx.store, sealer: ctx.deps.domains!.sealer!, intervalMs: 60_000 });
  ctx.deps.domains = { ...ctx.deps.domains!, keysChanged: () => keys.refresh() };
  const sink = await startSmtpSink();
  const pipeline = startPipeline(ctx, {
    transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false }),
    signer: new MessageSigner(new DkimSignerPool({ threads: 1 }), keys),
    returnPath: { key, domain: bounceDomain ?? undefined, domains: keys },
    unsubscribe: { key, baseUrl: () => 'https://mail.herald.test', footer: false, ...(bounceDomain !== null ? { mailtoDomain: bounceDomain } : {}) },
    tracking: { key, baseUrl: 'https://mail.herald.test' },
  });
  const settings: FeedbackSettings = { key, bounceDomain, returnPathDomains: keys, softBounceLimit: 3, softBounceWindowSeconds: 7 * 86400 };
  const listener = await startBounceServer({ deps: ctx.deps, settings, host: '127.0.0.1', port: 0, logger: createLogger('silent') });
  return {
    ctx,
    keys,
    sink,
    pipeline,
    listener,
    dkimRecords: new Map(),
    close: async () => {
      await listener.close(1000);
      await pipeline.stop();
      await sink.close();
      await ctx.close();
    },
  };
}

/** Adds `name` to the workspace and marks it verified (as a verify that found its records would), then refreshes the key source. */
async function verifiedDomain(setup: Setup, principal: Principal, name: string): Promise<void> {
  const added = await createDomain(setup.ctx.deps, principal, { name });
  const now = new Date().toISOString();
  await setup.ctx.store.recordDomainCheck(principal.workspaceId, added.domain.id, { status: 'verified', verifiedAt: now, lastCheck: {}, now });
  await setup.keys.refresh();
  const dkim = added.records.find((record) => record.purpose === 'dkim')!;
  setup.dkimRecords.set(dkim.name, dkim.value);
}

async function sent(setup: Setup, input: { from: string; to: string; stream?: 'transactional' | 'broadcast'; html?: string; tracking?: { opens: boolean; clicks: boolean } }, principal?: Principal) {
  const who = principal ?? setup.ctx.admin;
  const result = await sendEmail(setup.ctx.deps, who, { subject: 'Your order', text: 'Thanks', ...input });
  const id = result.messages[0]!.id;
  await waitFor(`message ${id} to be sent`, async () => ((await setup.ctx.store.getMessage(who.workspaceId, id))?.status === 'sent' ? true : undefined));
  const mail = await waitFor(`message ${id} at the sink`, async () => setup.sink.received.find((m) => m.to.includes(input.to)));
  return { id, mail };
}

async function deliver(listener: BounceServer, rcpts: string[], raw: string): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope: { from: 'mailer-daemon@isp.example', to: rcpts }, raw: Buffer.from(raw, 'latin1') });
  } finally {
    transport.close();
  }
}

/** The Gmail "no such user" DSN, returned to `returnPath` about message `id`. */
async function dsnFor(setup: Setup, id: string, returnPath: string): Promise<string> {
  const message = (await setup.ctx.store.findMessageById(id))!;
  return fixture('gmail-no-such-user.eml')
    .replace(/bounces\+[a-z0-9]+@bounce\.example\.com/gi, returnPath)
    .replace(/<msg_[0-9A-Z]+@[^>\s]+>/g, message.messageIdHeader)
    .replace(/no\.such\.person\.1987@gmail\.com/g, message.recipient);
}

for (const backend of backends()) {
  describe(`return paths aligned with verified sending domains (${backend})`, () => {
    const key = randomBytes(32);
    let setup: Setup;

    beforeAll(async () => {
      setup = await setUp(backend, key, BOUNCE_DOMAIN);
      await verifiedDomain(setup, setup.ctx.admin, VERIFIED);
    });
    afterAll(async () => {
      await setup.close();
    });

    it('sends mail from a verified domain with MAIL FROM bounces+<token>@bounces.<domain>, DKIM-valid with tracking on', async () => {
      const { id, mail } = await sent(setup, {
        from: `Shop <orders@${VERIFIED.toUpperCase()}>`,
        to: 'aligned.reader@example.org',
        stream: 'broadcast',
        html: '<p>Hello <a href="https://shop.example/sale">sale</a></p>',
        tracking: { opens: true, clicks: true },
      });
      expect(mail.from).toBe(bounceAddress(key, 'verp', id, `bounces.${VERIFIED}`));
      expect(mail.from.split('@')[0]!.length).toBeLessThanOrEqual(64);
      expect(mail.raw).toContain('https://mail.herald.test/t/');
      // The unsubscribe mailto lives at the same aligned host.
      const header = /^List-Unsubscribe:(.*(?:\r\n[ \t].*)*)/im.exec(mail.raw)?.[1]?.replace(/\s+/g, ' ') ?? '';
      expect(/<mailto:([^>]+)>/.exec(header)?.[1]).toBe(bounceAddress(key, 'unsubscribe', id, `bounces.${VERIFIED}`));
      const verdicts = await verifyDkim(mail.raw, setup.dkimRecords);
      expect(verdicts).toEqual([expect.objectContaining({ signingDomain: VERIFIED, status: expect.objectContaining({ result: 'pass' }) })]);
    });

    it('turns a DSN to the aligned VERP address into message.bounced and a suppression', async () => {
      const { id, mail } = await sent(setup, { from: `orders@${VERIFIED}`, to: 'gone.reader@example.org' });
      await deliver(setup.listener, [mail.from], await dsnFor(setup, id, mail.from));
      const message = (await setup.ctx.store.findMessageById(id))!;
      expect(message).toMatchObject({ status: 'bounced', bounceClass: 'hard' });
      const events = await setup.ctx.store.listMessageEvents(message.workspaceId, id);
      expect(events.find((e) => e.type === 'message.bounced')?.data).toMatchObject({ bounce_class: 'hard', source: 'dsn', attributed_by: 'verp' });
      const suppressed = await suppressedAmong(setup.ctx.deps, message.workspaceId, 'transactional', [message.recipient]);
      expect(suppressed.get(message.recipient)).toEqual({ reason: 'hard_bounce', scope: 'all' });
    });

    it('turns mail to the aligned unsubscribe mailto into an unsubscribe', async () => {
      const { id } = await sent(setup, { from: `news@${VERIFIED}`, to: 'leaving.reader@example.org', stream: 'broadcast' });
      await deliver(setup.listener, [bounceAddress(key, 'unsubscribe', id, `bounces.${VERIFIED}`)!], 'From: leaving.reader@example.org\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n');
      const broadcast = await suppressedAmong(setup.ctx.deps, setup.ctx.admin.workspaceId, 'broadcast', ['leaving.reader@example.org']);
      expect(broadcast.get('leaving.reader@example.org')).toEqual({ reason: 'unsubscribe', scope: 'broadcast' });
    });

    it('keeps the bounce domain for mail from an unverified domain (allowed) and from a domain another workspace verified', async () => {
      const unverified = await sent(setup, { from: 'orders@unverified.example.com', to: 'plain.reader@example.org' });
      expect(unverified.mail.from).toBe(bounceAddress(key, 'verp', unverified.id, BOUNCE_DOMAIN));
      const other = await createOtherWorkspace(setup.ctx.deps, 'alignment-other');
      const theirs = await sent(setup, { from: `orders@${VERIFIED}`, to: 'their.reader@example.org' }, other.principal);
      expect(theirs.mail.from).toBe(bounceAddress(key, 'verp', theirs.id, BOUNCE_DOMAIN));
      // A DSN to the bounce domain still works as before.
      await deliver(setup.listener, [unverified.mail.from], await dsnFor(setup, unverified.id, unverified.mail.from));
      expect((await setup.ctx.store.findMessageById(unverified.id))?.status).toBe('bounced');
    });

    it('refuses RCPT at bounces.<d> of an unverified or unknown domain, feedback-loop addresses there, and bad tokens, with 550', async () => {
      const { id, mail } = await sent(setup, { from: 'orders@pending.example.com', to: 'refused.reader@example.org' });
      await createDomain(setup.ctx.deps, setup.ctx.admin, { name: 'pending.example.com', algorithm: 'ed25519' });
      await setup.keys.refresh();
      const aligned = bounceAddress(key, 'verp', id, `bounces.${VERIFIED}`)!;
      const forged = aligned.replace(/-([a-z2-7])/, (_m, c: string) => `-${c === 'a' ? 'b' : 'a'}`);
      const dsn = await dsnFor(setup, id, mail.from);
      for (const rcpt of [
        bounceAddress(key, 'verp', id, 'bounces.pending.example.com')!,
        bounceAddress(key, 'verp', id, 'bounces.nowhere.example.net')!,
        bounceAddress(key, 'verp', id, VERIFIED)!,
        `fbl@bounces.${VERIFIED}`,
        `postmaster@bounces.${VERIFIED}`,
        forged,
      ]) {
        await expect(deliver(setup.listener, [rcpt], dsn), rcpt).rejects.toMatchObject({ responseCode: 550 });
      }
      expect((await setup.ctx.store.findMessageById(id))?.status).toBe('sent');
    });

    it('stops aligning once the domain is no longer verified', async () => {
      await verifiedDomain(setup, setup.ctx.admin, 'lapsed.example.com');
      const before = await sent(setup, { from: 'news@lapsed.example.com', to: 'lapsed.one@example.org' });
      expect(before.mail.from).toBe(bounceAddress(key, 'verp', before.id, 'bounces.lapsed.example.com'));
      const domain = (await setup.ctx.store.findDomainByName(setup.ctx.admin.workspaceId, 'lapsed.example.com'))!;
      const now = new Date(Date.now() + 1000).toISOString();
      await setup.ctx.store.recordDomainCheck(setup.ctx.admin.workspaceId, domain.id, { status: 'pending', verifiedAt: null, lastCheck: {}, now });
      await setup.keys.refresh();
      const after = await sent(setup, { from: 'news@lapsed.example.com', to: 'lapsed.two@example.org' });
      expect(after.mail.from).toBe(bounceAddress(key, 'verp', after.id, BOUNCE_DOMAIN));
      await expect(deliver(setup.listener, [before.mail.from], await dsnFor(setup, before.id, before.mail.from))).rejects.toMatchObject({ responseCode: 550 });
    });
  });

  describe(`return paths without a bounce domain (--return-path-host only) (${backend})`, () => {
    const key = randomBytes(32);
    let setup: Setup;

    beforeAll(async () => {
      setup = await setUp(backend, key, null);
      await verifiedDomain(setup, setup.ctx.admin, VERIFIED);
    });
    afterAll(async () => {
      await setup.close();
    });

    it('aligns mail from a verified domain and takes its bounces; other mail keeps its own sender', async () => {
      const aligned = await sent(setup, { from: `orders@${VERIFIED}`, to: 'first.reader@example.org' });
      expect(aligned.mail.from).toBe(bounceAddress(key, 'verp', aligned.id, `bounces.${VERIFIED}`));
      await deliver(setup.listener, [aligned.mail.from], await dsnFor(setup, aligned.id, aligned.mail.from));
      expect((await setup.ctx.store.findMessageById(aligned.id))?.status).toBe('bounced');

      const own = await sent(setup, { from: 'orders@unverified.example.com', to: 'second.reader@example.org', stream: 'broadcast' });
      expect(own.mail.from).toBe('orders@unverified.example.com');
      expect(own.mail.raw).not.toMatch(/mailto:/);
      await expect(deliver(setup.listener, [`fbl@bounces.${VERIFIED}`], 'Subject: x\r\n\r\nx\r\n')).rejects.toMatchObject({ responseCode: 550 });
    });
  });
}
