/**
 * The bounce and feedback listener end to end: Herald sends through a smart host with a VERP
 * return path, the fixture corpus of bounce and complaint reports comes back over real SMTP
 * (nodemailer), and each report turns into its event, state change and suppression, or into
 * nothing with a logged reason. Also: the short unsubscribe mailto, soft bounces counted in a
 * window, and hostile input (forged tokens, oversized and broken reports, foreign recipients).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { sendEmail } from '../../src/services/send.js';
import { suppressedAmong } from '../../src/services/suppressions.js';
import type { FeedbackSettings } from '../../src/services/feedback.js';
import { startBounceServer, type BounceServer } from '../../src/smtp/bounce-server.js';
import { bounceAddress } from '../../src/tracking/verp.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import { backends, createTestContext, createOtherWorkspace, ManualClock, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const DOMAIN = 'bounce.example.com';
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url)).toString('latin1');

/** Log lines the listener wrote, parsed. */
class LogSink extends Writable {
  lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  reasons(): string[] {
    return this.lines.flatMap((line) => (typeof line.reason === 'string' ? [line.reason] : []));
  }
}

for (const backend of backends()) {
  describe(`bounce and feedback listener (${backend})`, () => {
    const key = randomBytes(32);
    const clock = new ManualClock();
    const settings: FeedbackSettings = { key, bounceDomain: DOMAIN, softBounceLimit: 3, softBounceWindowSeconds: 7 * 86400 };
    const log = new LogSink();
    let ctx: TestContext;
    let sink: SmtpSink;
    let pipeline: Pipeline;
    let listener: BounceServer;

    beforeAll(async () => {
      ctx = await createTestContext({ backend, clock });
      sink = await startSmtpSink();
      pipeline = startPipeline(ctx, {
        transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false }),
        returnPath: { key, domain: DOMAIN },
        unsubscribe: { key, baseUrl: () => 'https://mail.example.com', footer: false, mailtoDomain: DOMAIN },
      });
      listener = await startBounceServer({ deps: ctx.deps, settings, host: '127.0.0.1', port: 0, logger: createLogger('info', log), maxSize: 256 * 1024 });
    });
    afterAll(async () => {
      await listener.close(1000);
      await pipeline.stop();
      await sink.close();
      await ctx.close();
    });

    async function sent(to: string, stream: 'transactional' | 'broadcast' = 'transactional', principal = ctx.admin): Promise<string> {
      const result = await sendEmail(ctx.deps, principal, { from: 'Shop <orders@shop.example.com>', to, subject: 'Your order', text: 'Thanks', stream });
      const id = result.messages[0]!.id;
      await waitFor(`message ${id} to be sent`, async () => ((await ctx.store.getMessage(principal.workspaceId, id))?.status === 'sent' ? true : undefined));
      return id;
    }

    const verp = (id: string): string => bounceAddress(key, 'verp', id, DOMAIN)!;

    async function deliver(rcpts: string[], raw: string | Buffer, from = 'mailer-daemon@isp.example'): Promise<void> {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
      try {
        await transport.sendMail({ envelope: { from, to: rcpts }, raw: typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw });
      } finally {
        transport.close();
      }
    }

    /** A fixture with its made-up VERP addresses and Message-IDs replaced by those of a real message. */
    async function forMessage(file: string, id: string): Promise<string> {
      const message = (await ctx.store.findMessageById(id))!;
      return fixture(file)
        .replace(/bounces\+[a-z0-9]+@bounce\.example\.com/gi, verp(id))
        .replace(/<msg_[0-9A-Z]+@[^>\s]+>/g, message.messageIdHeader);
    }

    async function state(id: string) {
      const message = (await ctx.store.findMessageById(id))!;
      const events = await ctx.store.listMessageEvents(message.workspaceId, id);
      const suppressed = await suppressedAmong(ctx.deps, message.workspaceId, 'transactional', [message.recipient]);
      const broadcast = await suppressedAmong(ctx.deps, message.workspaceId, 'broadcast', [message.recipient]);
      return { message, events, types: events.map((e) => e.type), transactional: suppressed.get(message.recipient), broadcast: broadcast.get(message.recipient) };
    }

    it('sends every message with its own VERP return path, and broadcast mail with a short mailto at the bounce domain', async () => {
      const id = await sent('verp.check@example.org', 'broadcast');
      const mail = sink.received.find((m) => m.to.includes('verp.check@example.org'))!;
      expect(mail.from).toBe(verp(id));
      expect(mail.from.split('@')[0]!.length).toBeLessThanOrEqual(64);
      const header = /^List-Unsubscribe:(.*(?:\r\n[ \t].*)*)/im.exec(mail.raw)?.[1]?.replace(/\s+/g, ' ') ?? '';
      const mailto = /<mailto:([^>]+)>/.exec(header)?.[1] ?? '';
      expect(mailto).toBe(bounceAddress(key, 'unsubscribe', id, DOMAIN));
      expect(mailto.split('@')[0]!.length).toBeLessThanOrEqual(64);
    });

    const DSN_CORPUS: { file: string; to: string; outcome: 'hard' | 'soft' | 'none' }[] = [
      { file: 'gmail-no-such-user.eml', to: 'no.such.person.1987@gmail.com', outcome: 'hard' },
      { file: 'office365-recipient-not-found.eml', to: 'frank@contoso.example.com', outcome: 'hard' },
      { file: 'postfix-user-unknown.eml', to: 'nobody@mail.example.org', outcome: 'hard' },
      { file: 'yahoo-dd-no-account.eml', to: 'old.friend.2009@yahoo.com', outcome: 'hard' },
      { file: 'exim-dsn-generic-status.eml', to: 'jdoe@corp.example.net', outcome: 'hard' },
      { file: 'dsn-latin1.eml', to: 'renee@fournisseur.example', outcome: 'hard' },
      { file: 'exim-plain-failed.eml', to: 'alice@gone.example.org', outcome: 'hard' },
      { file: 'mailbox-full.eml', to: 'henry@bigisp.example.com', outcome: 'soft' },
      { file: 'multi-recipient.eml', to: 'judy@partner.example', outcome: 'soft' },
      { file: 'qmail-plain.eml', to: 'erin@remote.example.org', outcome: 'soft' },
      { file: 'postfix-delayed.eml', to: 'grace@unreachable.example.net', outcome: 'none' },
      { file: 'exim-plain-delayed.eml', to: 'carol@slow.example.net', outcome: 'none' },
      { file: 'dsn-missing-final-recipient.eml', to: 'broken.one@example.net', outcome: 'none' },
      { file: 'dsn-truncated.eml', to: 'truncated.one@example.net', outcome: 'none' },
      { file: 'wrong-report-type.eml', to: 'mdn.one@example.net', outcome: 'none' },
    ];

    it.each(DSN_CORPUS)('$file to the VERP address of a message Herald sent: $outcome', async ({ file, to, outcome }) => {
      const id = await sent(to);
      await deliver([verp(id)], await forMessage(file, id));
      const after = await state(id);
      if (outcome === 'none') {
        expect(after.message.status).toBe('sent');
        expect(after.types).not.toContain('message.bounced');
        expect(after.transactional).toBeUndefined();
        return;
      }
      expect(after.message.status).toBe('bounced');
      expect(after.message.bounceClass).toBe(outcome);
      const bounced = after.events.find((e) => e.type === 'message.bounced')!;
      expect(bounced.data).toMatchObject({ bounce_class: outcome, source: 'dsn', attributed_by: 'verp' });
      if (outcome === 'hard') {
        expect(after.transactional).toEqual({ reason: 'hard_bounce', scope: 'all' });
        expect(after.broadcast).toEqual({ reason: 'hard_bounce', scope: 'all' });
      } else {
        expect(after.transactional).toBeUndefined();
      }
    });

    const ARF_CORPUS = [
      { file: 'arf-yahoo.eml', to: 'mia.k@yahoo.com', by: 'verp' },
      { file: 'arf-microsoft-jmrp.eml', to: 'noah.w@outlook.com', by: 'verp' },
      { file: 'arf-aol.eml', to: 'reader@aol.com', by: 'verp' },
    ];

    it.each(ARF_CORPUS)('$file to the feedback-loop address: message.complained, suppressed in both streams', async ({ file, to, by }) => {
      const id = await sent(to, 'broadcast');
      await deliver([`fbl@${DOMAIN}`], await forMessage(file, id), 'feedback@fbl.isp.example');
      const after = await state(id);
      expect(after.message.status).toBe('sent');
      expect(after.types).toContain('message.complained');
      expect(after.events.find((e) => e.type === 'message.complained')!.data).toMatchObject({ source: 'arf', feedback_type: 'abuse', attributed_by: by });
      expect(after.transactional).toEqual({ reason: 'complaint', scope: 'all' });
      expect(after.broadcast).toEqual({ reason: 'complaint', scope: 'all' });
    });

    it('attributes a complaint by its Message-ID when the report quotes no return path, and only to the recipient it names', async () => {
      const id = await sent('noah.two@outlook.com');
      const report = (await forMessage('arf-microsoft-jmrp.eml', id)).replace(/^.*bounces\+.*$/gim, '').replace(/noah\.w@outlook\.com/g, 'noah.two@outlook.com');
      await deliver([`abuse@${DOMAIN}`], report);
      expect((await state(id)).events.find((e) => e.type === 'message.complained')?.data).toMatchObject({ attributed_by: 'message_id' });

      const other = await sent('someone.else@outlook.com');
      const forged = (await forMessage('arf-microsoft-jmrp.eml', other)).replace(/^.*bounces\+.*$/gim, '');
      await deliver([`fbl@${DOMAIN}`], forged);
      const after = await state(other);
      expect(after.types).not.toContain('message.complained');
      expect(after.transactional).toBeUndefined();
      expect(log.reasons().some((reason) => reason.includes('names another recipient'))).toBe(true);
    });

    it('records a DSN delivered twice once: one event, one soft bounce counted', async () => {
      const id = await sent('twice@bigisp.example.com');
      const report = (await forMessage('mailbox-full.eml', id)).replace(/henry@bigisp\.example\.com/g, 'twice@bigisp.example.com');
      await deliver([verp(id)], report);
      await deliver([verp(id)], report);
      const after = await state(id);
      expect(after.types.filter((t) => t === 'message.bounced')).toHaveLength(1);
      expect(log.reasons().some((reason) => reason.includes('already has this bounce report'))).toBe(true);
    });

    it('suppresses after the third soft bounce within the window, not before, and not counting older ones', async () => {
      const to = 'often.full@bigisp.example.com';
      const bounceOnce = async () => {
        const id = await sent(to);
        await deliver([verp(id)], (await forMessage('mailbox-full.eml', id)).replace(/henry@bigisp\.example\.com/g, to));
        return id;
      };
      await bounceOnce();
      clock.advance(8 * 86400 * 1000); // the first falls out of the 7-day window
      await bounceOnce();
      await bounceOnce();
      expect((await state(await bounceOnce().then((id) => id))).transactional).toEqual({ reason: 'hard_bounce', scope: 'all' });
      const entries = await ctx.store.listSuppressions(ctx.admin.workspaceId, { limit: 1000 });
      expect(entries.find((entry) => entry.email === to)).toMatchObject({ reason: 'hard_bounce', source: 'soft_bounces', scope: 'all' });
    });

    it('counts exactly: two soft bounces in the window leave the address sendable', async () => {
      const to = 'twice.full@bigisp.example.com';
      for (let i = 0; i < 2; i++) {
        const id = await sent(to);
        await deliver([verp(id)], (await forMessage('mailbox-full.eml', id)).replace(/henry@bigisp\.example\.com/g, to));
      }
      expect((await suppressedAmong(ctx.deps, ctx.admin.workspaceId, 'transactional', [to])).size).toBe(0);
    });

    it('turns mail to the unsubscribe mailto into an unsubscribe from broadcast mail only', async () => {
      const id = await sent('leaving@example.org', 'broadcast');
      await deliver([bounceAddress(key, 'unsubscribe', id, DOMAIN)!], 'From: leaving@example.org\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n', 'leaving@example.org');
      const after = await state(id);
      expect(after.broadcast).toEqual({ reason: 'unsubscribe', scope: 'broadcast' });
      expect(after.transactional).toBeUndefined();
      expect(after.events.find((e) => e.type === 'message.unsubscribed')?.data).toMatchObject({ method: 'mailto' });
    });

    it('refuses forged and foreign recipients at RCPT with 550, and suppresses nothing', async () => {
      const id = await sent('forged.target@example.org');
      const token = verp(id);
      const forged = token.replace(/-([a-z2-7])/, (_m, c: string) => `-${c === 'a' ? 'b' : 'a'}`);
      for (const rcpt of [forged, `bounces+msg-abc@${DOMAIN}`, `postmaster@${DOMAIN}`, 'someone@example.org', `unsubscribe+${token.split('+')[1]}`]) {
        await expect(deliver([rcpt], await forMessage('gmail-no-such-user.eml', id))).rejects.toMatchObject({ responseCode: 550 });
      }
      const after = await state(id);
      expect(after.message.status).toBe('sent');
      expect(after.transactional).toBeUndefined();
      expect(log.reasons()).toContain('verp token does not verify');
    });

    it('stays up through hostile reports: oversized, binary, non-UTF-8, endless headers, a bounce naming a message of another workspace', async () => {
      const id = await sent('hostile.target@example.org');
      await expect(deliver([verp(id)], 'Subject: big\r\n\r\n' + 'x'.repeat(300 * 1024))).rejects.toMatchObject({ responseCode: 552 });
      await deliver([verp(id)], randomBytes(20_000));
      await deliver([verp(id)], Buffer.concat([Buffer.from('Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; \xff\xfe@\xff\r\n', 'latin1'), randomBytes(500)]));
      await deliver([verp(id)], `X-A: ${'a'.repeat(100_000)}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="${'b'.repeat(5000)}"\r\n\r\n`);
      await deliver([`fbl@${DOMAIN}`], await forMessage('arf-no-original.eml', id));
      // A report to the FBL address that names, by Message-ID, another workspace's message to another address.
      const other = await createOtherWorkspace(ctx.deps, 'feedback-other');
      const theirs = await sent('their.reader@example.org', 'transactional', other.principal);
      const stolen = (await forMessage('gmail-no-such-user.eml', theirs)).replace(/^.*bounces\+.*$/gim, '');
      await deliver([`fbl@${DOMAIN}`], stolen);
      expect((await state(theirs)).message.status).toBe('sent');
      expect((await state(id)).message.status).toBe('sent');
      expect((await state(id)).transactional).toBeUndefined();
      // Still listening.
      await deliver([verp(id)], await forMessage('postfix-delayed.eml', id));
    });
  });
}
