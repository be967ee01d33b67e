/**
 * Bounces in the SMTP reply itself (a 5xx from the smart host, not a later report) feed the
 * suppression list with the same policy as reported ones: a hard bounce suppresses the address in
 * the transaction that records the outcome, soft bounces count toward the limit within the window
 * (together with reported ones), and a stronger entry is left as it is.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SOFT_BOUNCE_LIMIT, DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS } from '../../src/core/feedback-policy.js';
import { outcomeOfAttempt } from '../../src/engine/attempt-outcome.js';
import { listEvents } from '../../src/services/events.js';
import { recordProviderFeedback, type FeedbackSettings } from '../../src/services/feedback.js';
import { sendEmail } from '../../src/services/send.js';
import { addSuppressions, listSuppressions } from '../../src/services/suppressions.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import { backends, createTestContext, ManualClock, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { SinkReply, startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

/** The smart host's script, by local part: `gone` does not exist, `full` is full (first a 452, then 552s), `later` takes its first message only. */
function script(): { onRecipient: (address: string) => Error | null; tries: (address: string) => number } {
  const seen = new Map<string, number>();
  return {
    tries: (address) => seen.get(address.toLowerCase()) ?? 0,
    onRecipient: (address) => {
      const key = address.toLowerCase();
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      const local = key.split('@')[0] ?? '';
      if (local === 'gone') return new SinkReply(550, `5.1.1 <${address}>: Recipient address rejected: User unknown in virtual mailbox table`);
      if (local === 'full') return n === 1 ? new SinkReply(452, '4.2.2 Mailbox full, try again later') : new SinkReply(552, '5.2.2 Mailbox full');
      if (local === 'aging') return new SinkReply(552, '5.2.2 Mailbox full');
      if (local === 'later') return n === 1 ? null : new SinkReply(552, '5.2.2 Mailbox over quota');
      return null;
    },
  };
}

for (const backend of backends()) {
  describe(`bounces in SMTP replies feed the suppression list (${backend})`, () => {
    let ctx: TestContext;
    let sink: SmtpSink | null = null;
    let pipeline: Pipeline | null = null;
    let tries: (address: string) => number;

    afterEach(async () => {
      await pipeline?.stop();
      await sink?.close();
      await ctx.close();
      pipeline = null;
      sink = null;
    });

    async function setUp(clock?: ManualClock): Promise<void> {
      // Quick retries, so that a 452 comes back within the test.
      ctx = await createTestContext({ backend, retry: { baseSeconds: 0.05, maxDelaySeconds: 0.1 }, ...(clock ? { clock } : {}) });
      const smarthost = script();
      tries = smarthost.tries;
      sink = await startSmtpSink({ onRecipient: smarthost.onRecipient });
      pipeline = startPipeline(ctx, { transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false }) });
    }

    async function send(to: string): Promise<{ id: string; suppressed?: string }> {
      const result = await sendEmail(ctx.deps, ctx.admin, { from: 'shop@example.com', to, subject: 'Your order', text: 'Thanks' });
      return result.messages[0]!;
    }

    async function final(id: string, status: string) {
      return waitFor(`message ${id} to be ${status}`, async () => {
        const message = await ctx.store.getMessage(ctx.admin.workspaceId, id);
        return message?.status === status ? message : undefined;
      });
    }

    async function entry(email: string) {
      return (await listSuppressions(ctx.deps, ctx.admin, { limit: 1000 })).data.find((e) => e.email === email);
    }

    async function suppressionEvents() {
      return (await listEvents(ctx.deps, ctx.admin, { type: 'suppression.added' })).data;
    }

    it('suppresses a hard-bounced address with the outcome, and holds back later mail to it at acceptance', async () => {
      await setUp();
      const { id } = await send('gone@Example.ORG');
      await final(id, 'bounced');
      // Right after the outcome: written in the same transaction.
      expect(await entry('gone@example.org')).toMatchObject({ reason: 'hard_bounce', scope: 'all', source: 'smtp' });
      const events = await suppressionEvents();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ recipient: 'gone@example.org', messageId: null });
      expect(events[0]!.data).toMatchObject({ email: 'gone@example.org', reason: 'hard_bounce', scope: 'all', source: 'smtp' });
      expect(events[0]!.data.reply).toContain('5.1.1');
      const bounced = (await ctx.store.listMessageEvents(ctx.admin.workspaceId, id)).find((e) => e.type === 'message.bounced');
      expect(bounced?.data).toMatchObject({ bounce_class: 'hard', enhanced_status: '5.1.1' });

      const later = await send('gone@example.org');
      expect(later.suppressed).toBe('hard_bounce');
      expect((await ctx.store.getMessage(ctx.admin.workspaceId, later.id))?.status).toBe('suppressed');
      expect(tries('gone@example.org')).toBe(1);
      // Other mail is not touched.
      await final((await send('fine@example.org')).id, 'sent');
      expect(await entry('fine@example.org')).toBeUndefined();
    });

    it(`suppresses after the ${DEFAULT_SOFT_BOUNCE_LIMIT}rd soft bounce (a 452 first: deferrals do not count), not before`, async () => {
      await setUp();
      const first = await send('full@example.org');
      await final(first.id, 'bounced');
      const types = (await ctx.store.listMessageEvents(ctx.admin.workspaceId, first.id)).map((e) => e.type);
      expect(types).toEqual(['message.accepted', 'message.deferred', 'message.bounced']);
      expect(await entry('full@example.org')).toBeUndefined();
      for (let n = 2; n < DEFAULT_SOFT_BOUNCE_LIMIT; n++) {
        await final((await send('full@example.org')).id, 'bounced');
        expect(await entry('full@example.org')).toBeUndefined();
      }
      const last = await send('full@example.org');
      await final(last.id, 'bounced');
      expect(await entry('full@example.org')).toMatchObject({ reason: 'hard_bounce', scope: 'all', source: 'soft_bounces' });
      const events = await suppressionEvents();
      expect(events).toHaveLength(1);
      expect(events[0]!.data).toMatchObject({ email: 'full@example.org', source: 'soft_bounces', reply: '552 5.2.2 Mailbox full' });
      expect((await send('full@example.org')).suppressed).toBe('hard_bounce');
      expect(tries('full@example.org')).toBe(DEFAULT_SOFT_BOUNCE_LIMIT + 1);
    });

    it('counts soft bounces reported by a provider and soft bounces in SMTP replies together', async () => {
      await setUp();
      const settings: FeedbackSettings = {
        key: randomBytes(32),
        bounceDomain: null,
        softBounceLimit: DEFAULT_SOFT_BOUNCE_LIMIT,
        softBounceWindowSeconds: DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS,
      };
      const first = await send('later@example.org');
      await final(first.id, 'sent');
      const report = JSON.parse(
        readFileSync(new URL('../fixtures/feedback/postmark-softbounce.json', import.meta.url), 'utf8').replace(/fullbox@example\.com/g, 'later@example.org'),
      ) as unknown;
      const reported = await recordProviderFeedback(ctx.deps, settings, ctx.admin, 'postmark', report);
      expect(reported.outcomes).toMatchObject([{ recorded: true, messageId: first.id, softBounces: 1, suppressed: null }]);
      for (let n = 2; n < DEFAULT_SOFT_BOUNCE_LIMIT; n++) {
        await final((await send('later@example.org')).id, 'bounced');
        expect(await entry('later@example.org')).toBeUndefined();
      }
      await final((await send('later@example.org')).id, 'bounced');
      expect(await entry('later@example.org')).toMatchObject({ reason: 'hard_bounce', source: 'soft_bounces' });
    });

    it('counts only the soft bounces within the window', async () => {
      const clock = new ManualClock();
      await setUp(clock);
      await final((await send('aging@example.org')).id, 'bounced');
      clock.advance((DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS + 3600) * 1000);
      for (let n = 1; n < DEFAULT_SOFT_BOUNCE_LIMIT; n++) await final((await send('aging@example.org')).id, 'bounced');
      expect(await entry('aging@example.org')).toBeUndefined();
      await final((await send('aging@example.org')).id, 'bounced');
      expect(await entry('aging@example.org')).toMatchObject({ reason: 'hard_bounce', source: 'soft_bounces' });
    });

    it('leaves a stronger entry added while the message was out, and records a replayed outcome once', async () => {
      ctx = await createTestContext({ backend });
      const { id } = await send('strong@example.org');
      const now = ctx.deps.clock.now();
      const [claimed] = await ctx.store.claimDue({ now: now.toISOString(), limit: 10, owner: 'w1', leaseUntil: new Date(now.getTime() + 30_000).toISOString() });
      expect(claimed?.id).toBe(id);
      await addSuppressions(ctx.deps, ctx.admin, { email: 'strong@example.org', reason: 'complaint' });
      const context = {
        ids: ctx.deps.ids,
        retry: ctx.deps.retry,
        owner: 'w1',
        now,
        random: () => 0.5,
        softBounces: { limit: DEFAULT_SOFT_BOUNCE_LIMIT, windowSeconds: DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS },
      };
      const outcome = outcomeOfAttempt(context, claimed!, 'smtp', { code: 550, reply: '550 5.1.1 user unknown' });
      expect(outcome.bounce).toMatchObject({ recipient: 'strong@example.org', bounceClass: 'hard', source: 'smtp' });
      expect(await ctx.store.recordAttempts([outcome])).toBe(1);
      expect(await ctx.store.recordAttempts([outcome])).toBe(0);
      expect(await entry('strong@example.org')).toMatchObject({ reason: 'complaint', source: 'api' });
      const events = await suppressionEvents();
      expect(events.map((e) => e.data.reason)).toEqual(['complaint']);
      expect((await ctx.store.getMessage(ctx.admin.workspaceId, id))?.status).toBe('bounced');
    });
  });
}
