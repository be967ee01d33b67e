/**
 * Webhooks end to end: the /v1/webhooks API over a real store, mail sent through the engine, the
 * dispatcher delivering to real receivers on 127.0.0.1 (allowlisted), and every request checked
 * with the `standardwebhooks` library.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookDispatcher } from '../../src/events/webhooks/dispatcher.js';
import { MetricsRegistry } from '../../src/lib/metrics.js';
import { webhookBacklogGauge } from '../../src/services/metrics.js';
import { sendEmail } from '../../src/services/send.js';
import { bearer, buildTestApp } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';
import { eventsOf, startDispatcher, startReceiver, verified, type Receiver } from '../helpers/webhook-receiver.js';

interface Created {
  id: string;
  secret: string;
}

for (const backend of backends()) {
  describe(`webhooks (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let auth: Record<string, string>;
    let pipeline: Pipeline | null;
    const dispatchers: WebhookDispatcher[] = [];
    const receivers: Receiver[] = [];

    beforeEach(async () => {
      ctx = await createTestContext({ backend });
      ctx.deps.webhooks = { allowlist: ['127.0.0.0/8'] };
      app = await buildTestApp(ctx);
      auth = bearer(ctx.adminSecret);
      pipeline = null;
    });
    afterEach(async () => {
      for (const dispatcher of dispatchers.splice(0)) await dispatcher.stop(500);
      await pipeline?.stop();
      for (const receiver of receivers.splice(0)) await receiver.close();
      await app.close();
      await ctx.close();
    });

    const receiver = async (...args: Parameters<typeof startReceiver>) => {
      const started = await startReceiver(...args);
      receivers.push(started);
      return started;
    };
    const dispatch = (options: Parameters<typeof startDispatcher>[1] = {}) => {
      const started = startDispatcher(ctx, options);
      dispatchers.push(started);
      return started;
    };
    const create = (payload: object) => app.inject({ method: 'POST', url: '/v1/webhooks', headers: auth, payload });
    const endpoint = async (payload: object): Promise<Created> => {
      const res = await create(payload);
      expect(res.statusCode).toBe(201);
      return res.json() as Created;
    };
    const get = async (url: string) => (await app.inject({ method: 'GET', url, headers: auth })).json();
    const send = async (count: number) => {
      pipeline ??= startPipeline(ctx);
      for (let i = 0; i < count; i++) {
        await sendEmail(ctx.deps, ctx.admin, { from: 'shop@example.com', to: `buyer${i}@example.org`, subject: `Order ${i}`, text: 'Thanks' });
      }
    };
    const sentEvents = async () =>
      (await ctx.store.listEventHeads(ctx.admin.workspaceId, { afterSeq: 0 }, 1000)).filter((h) => h.type === 'message.sent').length;
    const deliveries = async (id: string, query = '') => (await get(`/v1/webhooks/${id}/deliveries${query}`)).data as Record<string, unknown>[];

    it('creates, reads, lists, changes and deletes endpoints; the secret is shown once', async () => {
      const res = await create({ url: 'http://127.0.0.1:9/hooks', events: ['message.*', 'batch.completed'], description: ' Orders ' });
      expect(res.statusCode).toBe(201);
      const created = res.json();
      expect(created.id).toMatch(/^wh_/);
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(created).toMatchObject({ enabled: true, description: 'Orders', batch: { max_events: 1, max_latency_ms: 0 }, disabled_reason: null });
      const read = await get(`/v1/webhooks/${created.id}`);
      expect(read).not.toHaveProperty('secret');
      expect(read).toMatchObject({ url: 'http://127.0.0.1:9/hooks', events: ['message.*', 'batch.completed'] });
      expect((await get('/v1/webhooks')).data.map((w: { id: string }) => w.id)).toEqual([created.id]);
      const patch = await app.inject({
        method: 'PATCH',
        url: `/v1/webhooks/${created.id}`,
        headers: auth,
        payload: { events: ['message.sent'], enabled: false, batch: { max_events: 50 } },
      });
      expect(patch.statusCode).toBe(200);
      expect(patch.json()).toMatchObject({ events: ['message.sent'], enabled: false, batch: { max_events: 50, max_latency_ms: 1000 } });
      expect(patch.json()).not.toHaveProperty('secret');
      const other = await createOtherWorkspace(ctx.deps);
      const foreign = await app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}`, headers: bearer(other.secret) });
      expect(foreign.statusCode).toBe(404);
      expect((await app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: auth })).statusCode).toBe(204);
      expect((await app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}`, headers: auth })).statusCode).toBe(404);
    });

    it('refuses bad URLs, internal addresses without the allowlist and unknown event types, naming the field', async () => {
      const refused = async (payload: object, field: string, message: RegExp) => {
        const res = await create(payload);
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toMatchObject({ code: 'validation_failed', field });
        expect(res.json().error.message).toMatch(message);
      };
      const events = ['message.sent'];
      await refused({ url: 'not a url', events }, 'url', /absolute URL/);
      await refused({ url: 'ftp://hooks.example.com/x', events }, 'url', /https or http/);
      await refused({ url: 'https://user:pw@hooks.example.com/x', events }, 'url', /credentials/);
      await refused({ url: 'http://127.0.0.1:9/hooks', events: ['message.sent', 'message.snet'] }, 'events[1]', /unknown event type "message.snet"/);
      await refused({ url: 'http://127.0.0.1:9/hooks', events: [] }, 'events', /at least one/);
      await refused({ url: 'http://127.0.0.1:9/hooks', events, batch: { max_events: 5000 } }, 'batch.max_events', /1 to 1000/);
      ctx.deps.webhooks = { allowlist: [] };
      await refused({ url: 'http://127.0.0.1:9/hooks', events }, 'url', /loopback/);
      await refused({ url: 'http://10.1.2.3/hooks', events }, 'url', /private/);
      await refused({ url: 'http://169.254.10.1/hooks', events }, 'url', /link-local/);
      await refused({ url: 'http://[::1]:9/hooks', events }, 'url', /loopback/);
      expect((await get('/v1/webhooks')).data).toHaveLength(0);
    });

    it('delivers the events of sent mail, signed and filtered by type', async () => {
      const sentOnly = await receiver();
      const everything = await receiver();
      const a = await endpoint({ url: sentOnly.url, events: ['message.sent'] });
      const b = await endpoint({ url: everything.url, events: ['message.*'] });
      dispatch();
      await send(2);
      await waitFor('both endpoints to get their events', () => (sentOnly.requests.length >= 2 && everything.requests.length >= 4 ? true : undefined));
      await waitFor('the attempts to be recorded', async () => ((await deliveries(a.id, '?status=succeeded')).length === 2 ? true : undefined));
      const typesA = sentOnly.requests.flatMap((r) => eventsOf(r, a.secret).map((e) => e.type));
      expect(typesA).toEqual(['message.sent', 'message.sent']);
      const typesB = everything.requests.flatMap((r) => eventsOf(r, b.secret).map((e) => e.type)).sort();
      expect(typesB).toEqual(['message.accepted', 'message.accepted', 'message.sent', 'message.sent']);
      const body = verified(sentOnly.requests[0]!, a.secret) as Record<string, unknown>;
      expect(body).toMatchObject({ type: 'message.sent', message_id: expect.stringMatching(/^msg_/), recipient: expect.stringMatching(/@example\.org$/) });
      expect(() => verified(sentOnly.requests[0]!, b.secret)).toThrow();
      const log = await deliveries(a.id);
      expect(log).toHaveLength(2);
      expect(log[0]).toMatchObject({ status: 'succeeded', attempts: 1, http_status: 200, response_snippet: 'ok', next_attempt_at: null });
      expect(sentOnly.requests.map((r) => r.headers['webhook-id'])).toEqual(expect.arrayContaining(log.map((d) => d.id)));
    });

    it('retries a failing receiver until it recovers: every event exactly once after dedupe by webhook-id', async () => {
      const flaky = await receiver((n) => (n <= 4 ? 500 : 200));
      const hook = await endpoint({ url: flaky.url, events: ['message.sent'] });
      dispatch();
      await send(3);
      await waitFor('three deliveries to succeed', async () => ((await deliveries(hook.id, '?status=succeeded')).length === 3 ? true : undefined));
      const accepted = flaky.requests.slice(4);
      const byId = new Map(accepted.map((r) => [String(r.headers['webhook-id']), r]));
      const eventIds = [...byId.values()].flatMap((r) => eventsOf(r, hook.secret).map((e) => e.id));
      expect(eventIds).toHaveLength(3);
      expect(new Set(eventIds).size).toBe(3);
      for (const failed of flaky.requests.slice(0, 4)) expect(byId.has(String(failed.headers['webhook-id']))).toBe(true);
      const log = await deliveries(hook.id);
      expect(log.reduce((sum, d) => sum + Number(d.attempts), 0)).toBe(flaky.requests.length);
      expect((await get(`/v1/webhooks/${hook.id}`)).failing_since).toBeNull();
    });

    it('disables an endpoint that answers 410 Gone, with a webhook.disabled event', async () => {
      const gone = await receiver(() => 410);
      const hook = await endpoint({ url: gone.url, events: ['message.sent'] });
      dispatch();
      await send(1);
      await waitFor('the endpoint to be disabled', async () => ((await get(`/v1/webhooks/${hook.id}`)).enabled === false ? true : undefined));
      expect((await get(`/v1/webhooks/${hook.id}`)).disabled_reason).toMatch(/410 Gone/);
      const heads = await ctx.store.listEventHeads(ctx.admin.workspaceId, { afterSeq: 0 }, 1000);
      expect(heads.filter((h) => h.type === 'webhook.disabled')).toHaveLength(1);
      expect(gone.requests).toHaveLength(1);
      expect((await deliveries(hook.id))[0]).toMatchObject({ status: 'failed', http_status: 410 });
      // Re-enabled, it resumes the delivery it refused and follows the log from now on.
      gone.respond(() => 200);
      const enabled = await app.inject({ method: 'PATCH', url: `/v1/webhooks/${hook.id}`, headers: auth, payload: { enabled: true } });
      expect(enabled.json()).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
      await send(1);
      await waitFor('both deliveries to succeed', async () => ((await deliveries(hook.id, '?status=succeeded')).length === 2 ? true : undefined));
      expect(gone.requests).toHaveLength(3);
    });

    it('disables an endpoint failing for longer than disable-after', async () => {
      const down = await receiver(() => 503);
      const hook = await endpoint({ url: down.url, events: ['message.sent'] });
      dispatch({ disableAfterSeconds: 0.15, retryDelaysSeconds: [0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05] });
      await send(1);
      await waitFor('the endpoint to be disabled', async () => ((await get(`/v1/webhooks/${hook.id}`)).enabled === false ? true : undefined));
      expect((await get(`/v1/webhooks/${hook.id}`)).disabled_reason).toMatch(/^failing since .*longer than 0.15 s$/);
    });

    it('times out a hanging receiver, records the failure, and keeps a second endpoint flowing', async () => {
      const hanging = await receiver(() => 'hang');
      const healthy = await receiver();
      const stuck = await endpoint({ url: hanging.url, events: ['message.*'] });
      const fine = await endpoint({ url: healthy.url, events: ['message.*'] });
      await send(3);
      await waitFor('three messages sent', async () => ((await sentEvents()) === 3 ? true : undefined));
      dispatch({ timeoutMs: 1000, perEndpoint: 2, retryDelaysSeconds: [0, 5] });
      await waitFor('the healthy endpoint to get all six events', () => (healthy.requests.length >= 6 ? true : undefined));
      // Everything reached the healthy endpoint while the hanging one still held its first requests.
      expect(hanging.requests).toHaveLength(2);
      expect(Math.max(...healthy.requests.map((r) => r.at))).toBeLessThan(hanging.requests[0]!.at + 1000);
      expect(healthy.requests.flatMap((r) => eventsOf(r, fine.secret))).toHaveLength(6);
      await waitFor('the hanging attempts to be recorded', async () => ((await deliveries(stuck.id, '?status=failed')).length >= 2 ? true : undefined));
      const failed = await deliveries(stuck.id, '?status=failed');
      expect(failed[0]).toMatchObject({ http_status: null, error: 'timeout after 1000 ms', attempts: 1 });
      expect(Number(failed[0]!.latency_ms)).toBeGreaterThanOrEqual(990);
    });

    it('batches events into arrays when max_events > 1', async () => {
      const batched = await receiver();
      const hook = await endpoint({ url: batched.url, events: ['message.sent'], batch: { max_events: 10, max_latency_ms: 300 } });
      await send(5);
      await waitFor('five messages sent', async () => ((await sentEvents()) === 5 ? true : undefined));
      dispatch();
      await waitFor('the batch to be delivered', async () => ((await deliveries(hook.id, '?status=succeeded')).length === 1 ? true : undefined));
      expect(batched.requests).toHaveLength(1);
      const body = verified(batched.requests[0]!, hook.secret);
      expect(Array.isArray(body)).toBe(true);
      expect((body as unknown[]).length).toBe(5);
      expect((await deliveries(hook.id))[0]!.event_ids).toHaveLength(5);
    });

    it('signs with both secrets during the grace period after a rotation', async () => {
      const target = await receiver();
      const hook = await endpoint({ url: target.url, events: ['message.sent'] });
      const rotated = await app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/rotate-secret`, headers: auth });
      expect(rotated.statusCode).toBe(200);
      const next = rotated.json();
      expect(next.secret).toMatch(/^whsec_/);
      expect(next.secret).not.toBe(hook.secret);
      expect(Date.parse(next.previous_secret_expires_at) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
      dispatch();
      await send(1);
      await waitFor('the event', () => (target.requests.length >= 1 ? true : undefined));
      expect(verified(target.requests[0]!, hook.secret)).toMatchObject({ type: 'message.sent' });
      expect(verified(target.requests[0]!, next.secret)).toMatchObject({ type: 'message.sent' });
      const bad = await app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/rotate-secret`, headers: auth, payload: { grace_seconds: -1 } });
      expect(bad.json().error).toMatchObject({ code: 'validation_failed', field: 'grace_seconds' });
      const last = (await app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/rotate-secret`, headers: auth, payload: { grace_seconds: 0 } })).json();
      await send(1);
      await waitFor('the second event', () => (target.requests.length >= 2 ? true : undefined));
      expect(verified(target.requests[1]!, last.secret)).toMatchObject({ type: 'message.sent' });
      expect(() => verified(target.requests[1]!, next.secret)).toThrow();
    });

    it('replays a window of events as new deliveries', async () => {
      const target = await receiver();
      const hook = await endpoint({ url: target.url, events: ['message.sent'] });
      const from = new Date(Date.now() - 1000).toISOString();
      dispatch();
      await send(2);
      await waitFor('the first two deliveries', () => (target.requests.length >= 2 ? true : undefined));
      const firstIds = target.requests.flatMap((r) => eventsOf(r, hook.secret).map((e) => e.id)).sort();
      const to = new Date(Date.now() + 1000).toISOString();
      const res = await app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/replay`, headers: auth, payload: { from, to } });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toMatchObject({ events: 2, deliveries: 2 });
      await waitFor('the replayed deliveries', () => (target.requests.length >= 4 ? true : undefined));
      const replayed = target.requests.slice(2);
      expect(replayed.flatMap((r) => eventsOf(r, hook.secret).map((e) => e.id)).sort()).toEqual(firstIds);
      const webhookIds = new Set(target.requests.map((r) => r.headers['webhook-id']));
      expect(webhookIds.size).toBe(4);
      expect((await deliveries(hook.id)).filter((d) => d.replay === true)).toHaveLength(2);
      const backwards = await app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/replay`, headers: auth, payload: { from: to, to: from } });
      expect(backwards.json().error).toMatchObject({ code: 'validation_failed', field: 'to' });
    });

    it('shares the work between two dispatchers without sending an event twice', async () => {
      const target = await receiver();
      const hook = await endpoint({ url: target.url, events: ['message.*'] });
      const other = await ctx.reopen();
      dispatch();
      const second = startDispatcher(ctx, { store: other });
      try {
        await send(10);
        await waitFor('twenty events', () => (target.requests.length >= 20 ? true : undefined));
        await new Promise((resolve) => setTimeout(resolve, 200));
      } finally {
        await second.stop(500);
        await other.close();
      }
      const eventIds = target.requests.flatMap((r) => eventsOf(r, hook.secret).map((e) => e.id));
      expect(eventIds).toHaveLength(20);
      expect(new Set(eventIds).size).toBe(20);
    });

    it('delivers a pending retry after a restart: the next process picks it up from the store', async () => {
      const target = await receiver((n) => (n === 1 ? 500 : 200));
      const hook = await endpoint({ url: target.url, events: ['message.sent'] });
      const first = await ctx.reopen();
      const before = startDispatcher(ctx, { store: first, retryDelaysSeconds: [0, 0.5] });
      await send(1);
      await waitFor('the first attempt to fail', async () => ((await deliveries(hook.id, '?status=failed')).length === 1 ? true : undefined));
      await before.stop(500);
      await first.close();
      expect(target.requests).toHaveLength(1);
      const second = await ctx.reopen();
      const registry = new MetricsRegistry();
      const after = startDispatcher(ctx, { store: second, retryDelaysSeconds: [0, 0.5], backlog: webhookBacklogGauge(registry) });
      try {
        await waitFor('the retry to succeed', async () => ((await deliveries(hook.id, '?status=succeeded')).length === 1 ? true : undefined));
      } finally {
        await after.stop(500);
        await second.close();
      }
      expect(target.requests).toHaveLength(2);
      expect(target.requests[1]!.headers['webhook-id']).toBe(target.requests[0]!.headers['webhook-id']);
      expect((await deliveries(hook.id))[0]).toMatchObject({ status: 'succeeded', attempts: 2 });
      // The new process counted the retry it found waiting.
      expect(registry.render()).toMatch(/^herald_webhook_backlog 1$/m);
    });
  });
}
