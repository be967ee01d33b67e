/**
 * Frequency caps at send time: two batches to the same recipient under a cap that defers (the
 * second message waits for the window and then goes) and one that drops (final, counted); the same
 * recipient twice in one chunk; two workers on one store never both take the last place; exempt
 * batches and transactional mail are never capped; bad options name their field.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { BatchGate } from '../../src/engine/batch-gate.js';
import { Engine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/lib/logger.js';
import { MetricsRegistry } from '../../src/lib/metrics.js';
import type { MessageEvent } from '../../src/core/types.js';
import { CaptureTransport } from '../../src/transports/capture.js';
import { backends, createTestContext, ManualClock, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

const DAY = 86400;

for (const backend of backends()) {
  describe(`frequency caps (${backend})`, () => {
    let ctx: TestContext;
    let pipeline: Pipeline | null = null;
    let app: FastifyInstance | null = null;
    afterEach(async () => {
      await app?.close();
      await pipeline?.stop();
      app = null;
      pipeline = null;
      await ctx.close();
    });

    async function setUp(options: { clock?: ManualClock; cap?: { max: number; perSeconds: number; policy: 'defer' | 'drop' }; metrics?: MetricsRegistry } = {}) {
      ctx = await createTestContext({ backend, ...(options.clock ? { clock: options.clock } : {}) });
      pipeline = startPipeline(ctx, { ...(options.cap ? { frequencyCap: options.cap } : {}), ...(options.metrics ? { metrics: options.metrics } : {}) });
      app = await buildApp({ deps: ctx.deps, logger: createLogger('silent'), bodyLimit: 1024 * 1024, rateLimit: 0 });
      await app.ready();
    }

    const auth = () => ({ authorization: `Bearer ${ctx.adminSecret}` });

    async function batch(recipients: string[], extra: Record<string, unknown> = {}) {
      const res = await app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: { from: 'news@example.com', subject: 'News', text: 'x', ...extra, recipients },
      });
      expect(res.statusCode, res.body).toBe(202);
      return res.json() as { id: string; options: Record<string, unknown> };
    }

    async function batchState(id: string) {
      return (await app!.inject({ method: 'GET', url: `/v1/batches/${id}`, headers: auth() })).json();
    }

    async function finished(id: string, what: (b: { status: string; counters: Record<string, number> }) => boolean) {
      return waitFor(`batch ${id}`, async () => {
        const state = await batchState(id);
        return what(state) ? state : undefined;
      });
    }

    async function eventsFor(type: string): Promise<MessageEvent[]> {
      return (await ctx.store.listEvents(ctx.admin.workspaceId, { after: 0, limit: 1000 })).filter((e) => e.type === type);
    }

    it('defers a second broadcast to the same recipient until the window opens, then sends it', async () => {
      const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));
      await setUp({ clock, cap: { max: 1, perSeconds: DAY, policy: 'defer' } });
      const first = await batch(['ann@example.org', 'bob@example.org']);
      await finished(first.id, (b) => b.status === 'completed');
      clock.set(new Date('2026-03-01T16:00:00Z'));
      const second = await batch(['ann@example.org', 'cat@example.org']);
      const state = await finished(second.id, (b) => b.counters.sent === 1 && b.counters.deferred === 1);
      expect(state.status).toBe('sending');
      const deferred = (await eventsFor('message.deferred')).filter((e) => e.batchId === second.id);
      expect(deferred).toHaveLength(1);
      expect(deferred[0]!.recipient).toBe('ann@example.org');
      expect(deferred[0]!.data).toMatchObject({ reason: 'frequency_capped', retry_at: '2026-03-02T10:00:00.000Z', frequency_cap: { max: 1, per_seconds: DAY, policy: 'defer', counted: 1 } });
      const ann = await ctx.store.getMessage(ctx.admin.workspaceId, deferred[0]!.messageId!);
      expect(ann).toMatchObject({ status: 'deferred', attempts: 0, dueAt: '2026-03-02T10:00:00.000Z' });
      clock.set(new Date('2026-03-02T10:00:01Z'));
      await finished(second.id, (b) => b.status === 'completed' && b.counters.sent === 2);
    });

    it('drops over a batch\'s own cap, counting every earlier broadcast (capped or not) and the metric', async () => {
      const metrics = new MetricsRegistry();
      await setUp({ metrics });
      const first = await batch(['ann@example.org', 'bob@example.org']);
      await finished(first.id, (b) => b.status === 'completed');
      const second = await batch(['ann@example.org', 'cat@example.org'], { frequency_cap: { max: 1, per_seconds: DAY, policy: 'drop' } });
      expect(second.options.frequency_cap).toEqual({ max: 1, per_seconds: DAY, policy: 'drop' });
      const state = await finished(second.id, (b) => b.status === 'completed');
      expect(state.counters).toMatchObject({ total: 2, sent: 1, suppressed: 1 });
      const suppressed = (await eventsFor('message.suppressed')).filter((e) => e.batchId === second.id);
      expect(suppressed.map((e) => [e.recipient, e.data.reason, e.data.checked])).toEqual([['ann@example.org', 'frequency_capped', 'before_send']]);
      const ann = await ctx.store.getMessage(ctx.admin.workspaceId, suppressed[0]!.messageId!);
      expect(ann?.lastReply).toMatch(/^frequency_capped: 1 sent/);
      expect(metrics.render()).toMatch(/herald_frequency_capped_total\{policy="drop"\} 1/);
    });

    it('holds the cap for the same recipient twice in one chunk, and leaves exempt batches and transactional mail alone', async () => {
      await setUp({ cap: { max: 1, perSeconds: DAY, policy: 'drop' } });
      const ids: string[] = [];
      for (const subject of ['one', 'two', 'three']) {
        const res = await app!.inject({
          method: 'POST', url: '/v1/emails', headers: auth(),
          payload: { from: 'news@example.com', to: 'dan@example.org', subject, text: 'x', stream: 'broadcast' },
        });
        ids.push(res.json().messages[0].id as string);
      }
      const statuses = await waitFor('all three final', async () => {
        const list = await Promise.all(ids.map(async (id) => (await ctx.store.getMessage(ctx.admin.workspaceId, id))!.status));
        return list.every((s) => s === 'sent' || s === 'suppressed') ? list : undefined;
      });
      expect(statuses.filter((s) => s === 'sent')).toHaveLength(1);
      const exempt = await batch(['dan@example.org'], { frequency_cap: false });
      expect((await finished(exempt.id, (b) => b.status === 'completed')).counters.sent).toBe(1);
      const transactional = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'dan@example.org', subject: 'receipt', text: 'x' },
      });
      const receipt = transactional.json().messages[0].id as string;
      await waitFor('the receipt', async () => ((await ctx.store.getMessage(ctx.admin.workspaceId, receipt))?.status === 'sent' ? true : undefined));
    });

    it('holds across two workers on one store: exactly the capped number go', async () => {
      await setUp({ cap: { max: 2, perSeconds: DAY, policy: 'drop' } });
      const second = await ctx.reopen();
      const other = new Engine({
        store: second, transport: new CaptureTransport(), clock: ctx.deps.clock, ids: ctx.deps.ids, retry: ctx.deps.retry, logger: createLogger('silent'),
        owner: 'worker-2', leaseSeconds: 30, claimChunk: 3, concurrency: 4, pollIntervalSeconds: 0.02, batches: new BatchGate(second, Date.now, 50),
        frequencyCap: { max: 2, perSeconds: DAY, policy: 'drop' },
      });
      other.start();
      try {
        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
          const res = await app!.inject({
            method: 'POST', url: '/v1/emails', headers: auth(),
            payload: { from: 'news@example.com', to: 'eve@example.org', subject: `n${i}`, text: 'x', stream: 'broadcast' },
          });
          ids.push(res.json().messages[0].id as string);
          other.wake();
        }
        const statuses = await waitFor('all final', async () => {
          const list = await Promise.all(ids.map(async (id) => (await ctx.store.getMessage(ctx.admin.workspaceId, id))!.status));
          return list.every((s) => s === 'sent' || s === 'suppressed') ? list : undefined;
        });
        expect(statuses.filter((s) => s === 'sent')).toHaveLength(2);
      } finally {
        await other.stop(2000);
        await second.close();
      }
    });

    it('refuses bad frequency_cap options, naming the field', async () => {
      await setUp();
      for (const [option, field, extra] of [
        [{ max: 0, per_seconds: DAY }, 'frequency_cap.max', {}],
        [{ max: 1, per_seconds: 10 }, 'frequency_cap.per_seconds', {}],
        [{ max: 1 }, 'frequency_cap.per_seconds', {}],
        [{ max: 1, per_seconds: DAY, policy: 'later' }, 'frequency_cap.policy', {}],
        [{ max: 1, per_seconds: DAY, every: 1 }, 'frequency_cap.every', {}],
        ['1/24h', 'frequency_cap', {}],
        [{ max: 1, per_seconds: DAY }, 'frequency_cap', { stream: 'transactional' }],
      ] as const) {
        const res = await app!.inject({
          method: 'POST', url: '/v1/batches', headers: auth(),
          payload: { from: 'news@example.com', subject: 'x', text: 'x', frequency_cap: option, ...extra, recipients: ['a@example.org'] },
        });
        expect(res.statusCode, JSON.stringify(option)).toBe(400);
        expect(res.json().error.field, JSON.stringify(option)).toBe(field);
      }
    });
  });
}
