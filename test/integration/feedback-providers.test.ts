/**
 * `POST /v1/feedback/{ses|sendgrid|mailgun|postmark}` through the real app: each provider's
 * webhook body (the fixture corpus, pointed at messages Herald sent) becomes the same canonical
 * events and suppressions as the bounce listener's reports. Events about another workspace's
 * messages are ignored and counted; authentication is the workspace's key; SNS subscription
 * confirmations are logged, never fetched.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createLogger } from '../../src/lib/logger.js';
import { createKey } from '../../src/services/keys.js';
import { sendEmail } from '../../src/services/send.js';
import { suppressedAmong } from '../../src/services/suppressions.js';
import { basic, bearer } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url), 'utf8');

for (const backend of backends()) {
  describe(`provider feedback webhooks (${backend})`, () => {
    let ctx: TestContext;
    let pipeline: Pipeline;
    let app: FastifyInstance;

    beforeAll(async () => {
      ctx = await createTestContext({ backend });
      pipeline = startPipeline(ctx);
      app = await buildApp({
        deps: ctx.deps,
        logger: createLogger('silent'),
        bodyLimit: 1024 * 1024,
        rateLimit: 0,
        feedback: { key: randomBytes(32), bounceDomain: null, softBounceLimit: 2, softBounceWindowSeconds: 86400 },
      });
      await app.ready();
    });
    afterAll(async () => {
      await app.close();
      await pipeline.stop();
      await ctx.close();
    });

    async function sent(to: string, principal = ctx.admin): Promise<string> {
      const result = await sendEmail(ctx.deps, principal, { from: 'Shop <orders@shop.example.com>', to, subject: 'Your order', text: 'Thanks' });
      const id = result.messages[0]!.id;
      await waitFor(`message ${id} to be sent`, async () => ((await ctx.store.getMessage(principal.workspaceId, id))?.status === 'sent' ? true : undefined));
      return id;
    }

    /** A fixture with its made-up Herald message ids replaced by `id`. */
    const pointedAt = (file: string, id: string): string => fixture(file).replace(/msg_[0-9A-Z]{10}/g, id);

    function post(provider: string, body: string | unknown, headers: Record<string, string> = bearer(ctx.adminSecret), type = 'application/json') {
      return app.inject({ method: 'POST', url: `/v1/feedback/${provider}`, headers: { ...headers, 'content-type': type }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
    }

    async function state(id: string, workspaceId = ctx.admin.workspaceId) {
      const message = (await ctx.store.getMessage(workspaceId, id))!;
      const events = await ctx.store.listMessageEvents(workspaceId, id);
      const held = await suppressedAmong(ctx.deps, workspaceId, 'transactional', [message.recipient]);
      return { status: message.status, bounceClass: message.bounceClass, types: events.map((e) => e.type), events, suppressed: held.get(message.recipient) };
    }

    it('SES through SNS (text/plain, Basic credentials in the URL): a permanent bounce suppresses at once', async () => {
      const id = await sent('missing@example.net');
      const answer = await post('ses', pointedAt('ses-bounce-permanent.json', id), basic(ctx.adminKeyId, ctx.adminSecret), 'text/plain; charset=UTF-8');
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual({ accepted: 1, ignored: [] });
      const after = await state(id);
      expect(after).toMatchObject({ status: 'bounced', bounceClass: 'hard', suppressed: { reason: 'hard_bounce', scope: 'all' } });
      expect(after.events.find((e) => e.type === 'message.bounced')!.data).toMatchObject({ source: 'ses', bounce_class: 'hard', attributed_by: 'message_id' });
    });

    it('SES: a complaint suppresses in both streams, a transient bounce is counted only, a delivery marks delivered', async () => {
      const complained = await sent('angry@example.net');
      expect((await post('ses', pointedAt('ses-complaint.json', complained))).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(complained)).toMatchObject({ status: 'sent', suppressed: { reason: 'complaint', scope: 'all' } });
      expect((await state(complained)).types).toContain('message.complained');

      const full = await sent('full@example.net');
      expect((await post('ses', pointedAt('ses-bounce-transient.json', full))).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(full)).toMatchObject({ status: 'bounced', bounceClass: 'soft', suppressed: undefined });

      const happy = await sent('happy@example.net');
      expect((await post('ses', pointedAt('ses-delivery.json', happy))).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(happy)).toMatchObject({ status: 'delivered' });
      expect((await state(happy)).types).toContain('message.delivered');
    });

    it('SES: a SubscriptionConfirmation is answered 200 and ignored with its reason, nothing fetched', async () => {
      const answer = await post('ses', { Type: 'SubscriptionConfirmation', TopicArn: 'arn:aws:sns:eu-west-1:1:herald', SubscribeURL: 'http://127.0.0.1:1/confirm', Token: 't' });
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toMatchObject({ accepted: 0, ignored: [{ index: null, reason: expect.stringContaining('SubscriptionConfirmation') }] });
    });

    it('SendGrid: a batch of events, each to its own message; deferrals and opens are not bounces', async () => {
      const events = JSON.parse(fixture('sendgrid-events.json')) as Record<string, unknown>[];
      const ids = new Map<string, string>();
      for (const email of new Set(events.map((event) => String(event.email)))) ids.set(email, await sent(email));
      for (const event of events) event['smtp-id'] = `<${ids.get(String(event.email))}@shop.example.com>`;
      const answer = (await post('sendgrid', events)).json() as { accepted: number; ignored: { index: number; recipient: string; reason: string }[] };
      expect(answer.accepted).toBe(5);
      expect(answer.ignored).toEqual([expect.objectContaining({ recipient: 'later@example.com', reason: expect.stringContaining('not failed') })]);
      expect(await state(ids.get('gone@example.com')!)).toMatchObject({ status: 'bounced', bounceClass: 'hard', suppressed: { reason: 'hard_bounce' } });
      expect(await state(ids.get('walled@example.com')!)).toMatchObject({ status: 'bounced', bounceClass: 'soft', suppressed: undefined });
      expect(await state(ids.get('known-bad@example.com')!)).toMatchObject({ status: 'bounced', bounceClass: 'hard' });
      expect(await state(ids.get('later@example.com')!)).toMatchObject({ status: 'sent' });
      expect(await state(ids.get('reader@example.com')!)).toMatchObject({ status: 'delivered' });
      expect(await state(ids.get('annoyed@example.com')!)).toMatchObject({ suppressed: { reason: 'complaint', scope: 'all' } });
    });

    it('Mailgun: a permanent failure and a complaint, by the message-id header', async () => {
      const id = await sent('nobody@example.org');
      const body = fixture('mailgun-permanent.json').replace(/"message-id": "[^"]+"/, `"message-id": "${id}@shop.example.com"`);
      expect((await post('mailgun', body)).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(id)).toMatchObject({ status: 'bounced', bounceClass: 'hard', suppressed: { reason: 'hard_bounce' } });

      const grumpy = await sent('grumpy@example.org');
      const complaint = fixture('mailgun-complained.json').replace(/"message-id": "[^"]+"/, `"message-id": "${grumpy}@shop.example.com"`);
      expect((await post('mailgun', complaint)).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(grumpy)).toMatchObject({ suppressed: { reason: 'complaint', scope: 'all' } });
    });

    it('Postmark: without a Herald id, the newest message sent to the address is the one', async () => {
      await sent('nouser@example.com');
      const newest = await sent('nouser@example.com');
      expect((await post('postmark', fixture('postmark-hardbounce.json'))).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(newest)).toMatchObject({ status: 'bounced', bounceClass: 'hard', suppressed: { reason: 'hard_bounce' } });
      expect((await state(newest)).events.find((e) => e.type === 'message.bounced')!.data).toMatchObject({ attributed_by: 'recipient', source: 'postmark' });

      const reporter = await sent('spamreporter@example.com');
      expect((await post('postmark', fixture('postmark-spamcomplaint.json'))).json()).toEqual({ accepted: 1, ignored: [] });
      expect(await state(reporter)).toMatchObject({ suppressed: { reason: 'complaint' } });
    });

    it('a repeated post (provider retry) records nothing twice', async () => {
      const id = await sent('retry@example.net');
      const body = pointedAt('ses-bounce-permanent.json', id).replace(/missing@example\.net/g, 'retry@example.net');
      expect((await post('ses', body)).json()).toEqual({ accepted: 1, ignored: [] });
      const again = (await post('ses', body)).json() as { accepted: number; ignored: { reason: string }[] };
      expect(again.accepted).toBe(0);
      expect(again.ignored[0]!.reason).toContain('already has this bounce report');
      expect((await state(id)).types.filter((t) => t === 'message.bounced')).toHaveLength(1);
    });

    it('ignores, and counts, events about messages of another workspace: nothing changes on either side', async () => {
      const id = await sent('mine@example.net');
      const other = await createOtherWorkspace(ctx.deps, 'feedback-provider-other');
      const body = pointedAt('ses-complaint.json', id).replace(/angry@example\.net/g, 'mine@example.net');
      const answer = await post('ses', body, bearer(other.secret));
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual({ accepted: 0, ignored: [{ index: 0, recipient: 'mine@example.net', reason: `no message ${id} in this workspace` }] });
      expect(await state(id)).toMatchObject({ status: 'sent', suppressed: undefined });
      expect((await suppressedAmong(ctx.deps, other.principal.workspaceId, 'transactional', ['mine@example.net'])).size).toBe(0);
      // Without a Herald id, the other workspace has never mailed the address: nothing to attribute.
      const postmark = fixture('postmark-hardbounce.json').replace(/nouser@example\.com/g, 'mine@example.net');
      expect((await post('postmark', postmark, bearer(other.secret))).json()).toMatchObject({ accepted: 0, ignored: [{ reason: 'no message sent to mine@example.net in this workspace' }] });
      expect(await state(id)).toMatchObject({ status: 'sent', suppressed: undefined });
    });

    it('answers 200 with the reason for a body of the wrong shape, and 400 for one that is not JSON', async () => {
      expect((await post('sendgrid', { hello: 'world' })).json()).toMatchObject({ accepted: 0, ignored: [{ index: null }] });
      expect((await post('postmark', [1, 2, 3])).json()).toMatchObject({ accepted: 0, ignored: [{ index: null, reason: 'Postmark body is not a JSON object' }] });
      expect((await post('mailgun', '{"event-data":')).statusCode).toBe(400);
      expect((await post('ses', 'not json', bearer(ctx.adminSecret), 'text/plain')).json()).toMatchObject({ accepted: 0, ignored: [{ reason: 'ses body is not valid JSON' }] });
    });

    it('needs a key with send scope, and knows only the four providers', async () => {
      expect((await post('ses', {}, {})).statusCode).toBe(401);
      const reader = await createKey(ctx.deps, { workspace: 'default', name: 'reader', scope: 'read' });
      expect((await post('ses', { Type: 'Notification', Message: '{}' }, bearer(reader.secret))).statusCode).toBe(403);
      expect((await post('resend', {})).statusCode).toBe(400);
    });
  });
}
