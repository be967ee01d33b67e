/**
 * What several processes sharing one store coordinate through it: a batch's rate cap is one
 * budget for every worker (a shared token bucket, not one bucket per process), and a write by
 * one process wakes the others (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite). The second
 * "process" is a second store connection to the same data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BatchGate } from '../../src/engine/batch-gate.js';
import { createBatch, type RecipientRow } from '../../src/services/batches.js';
import { sendEmail } from '../../src/services/send.js';
import { sharedShapingBudget } from '../../src/services/shaping.js';
import { TrafficShaper } from '../../src/transports/shaping/traffic-shaper.js';
import type { SignalTopic } from '../../src/store/signals.js';
import type { Store } from '../../src/store/store.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

async function* rows(list: Omit<RecipientRow, 'row'>[]): AsyncGenerator<RecipientRow> {
  let row = 0;
  for (const recipient of list) yield { row: ++row, ...recipient };
}

for (const backend of backends()) {
  describe(`coordination across processes (${backend})`, () => {
    let ctx: TestContext;
    const opened: Store[] = [];
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await ctx?.close();
    });

    async function second(): Promise<Store> {
      const store = await ctx.reopen();
      opened.push(store);
      return store;
    }

    async function sendingBatch(perHour: number, recipients: number): Promise<string> {
      const created = await createBatch(ctx.deps, ctx.admin, {
        options: { from: 'news@example.com', subject: 'Hi', text: 'Hello', rate: { per_hour: perHour } },
        recipients: rows(Array.from({ length: recipients }, (_, i) => ({ email: `r${i}@example.org` }))),
        requestHash: () => `rate-${perHour}-${recipients}`,
      });
      const now = new Date().toISOString();
      const moved = await ctx.store.transitionBatch({ batchId: created.batch.id, from: ['scheduled'], to: 'sending', reason: null, now, event: null, audit: null });
      expect(moved).toBeTruthy();
      return created.batch.id;
    }

    it('gives two workers one rate budget: what one takes, the other cannot', async () => {
      ctx = await createTestContext({ backend });
      // 3,600 an hour: one a second, a burst of two.
      const batchId = await sendingBatch(3600, 50);
      let now = 1_000_000;
      const clock = () => now;
      const first = new BatchGate(ctx.store, clock, 0);
      const other = new BatchGate(await second(), clock, 0);
      await first.refresh(true);
      await other.refresh(true);

      const a = await first.lanes(100);
      const b = await other.lanes(100);
      expect(a).toEqual([{ batchId, limit: 2, sampleOnly: false }]);
      expect(b).toEqual([{ batchId, limit: 0, sampleOnly: false }]);

      // The first worker claimed only one of its two: the other one goes back to the shared bucket.
      await first.claimed(a, new Map([[batchId, 1]]));
      expect(await other.lanes(100)).toEqual([{ batchId, limit: 1, sampleOnly: false }]);

      // Three seconds later three more tokens have dripped in, but the bucket holds two at most.
      now += 3000;
      const later = await Promise.all([first.lanes(100), other.lanes(100)]);
      expect(later.flat().reduce((sum, lane) => sum + lane.limit, 0)).toBe(2);
    });

    it('an uncapped batch takes its share of the chunk without touching a bucket', async () => {
      ctx = await createTestContext({ backend });
      const created = await createBatch(ctx.deps, ctx.admin, {
        options: { from: 'news@example.com', subject: 'Hi', text: 'Hello' },
        recipients: rows([{ email: 'a@example.org' }]),
        requestHash: () => 'uncapped',
      });
      await ctx.store.transitionBatch({ batchId: created.batch.id, from: ['scheduled'], to: 'sending', reason: null, now: new Date().toISOString(), event: null, audit: null });
      const gate = new BatchGate(ctx.store, Date.now, 0);
      await gate.refresh(true);
      expect(await gate.lanes(40)).toEqual([{ batchId: created.batch.id, limit: 40, sampleOnly: false }]);
    });

    it('shapes a destination with one budget for every worker: two shapers share one provider limit', async () => {
      ctx = await createTestContext({ backend });
      const frozen = () => 5_000_000;
      // 60 a minute: one a second, a bucket of five seconds' worth.
      const shapers = [ctx.store, await second()].map(
        (store) => new TrafficShaper({ now: frozen, shared: sharedShapingBudget(store, frozen), overrides: { default: { messagesPerMinute: 60 } } }),
      );
      let admitted = 0;
      for (let round = 0; round < 10; round++) {
        for (const shaper of shapers) {
          for (let i = 0; i < 5; i++) {
            const admission = shaper.admit('mx.example.net');
            if (admission.ok) {
              admitted += 1;
              admission.release({ code: 250, reply: '250 ok' });
            }
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      // The clock stands still, so nothing refills: both workers together get the one burst.
      expect(admitted).toBe(5);
    });

    it('one worker throttled by a provider slows every worker at that destination', async () => {
      ctx = await createTestContext({ backend });
      let now = 7_000_000;
      const clock = () => now;
      const [throttled, other] = [sharedShapingBudget(ctx.store, clock), sharedShapingBudget(await second(), clock)];
      // Both at 600 a minute (10/s, a burst of 50): the bucket is emptied.
      expect(await other.take('google', 100, { perMinute: 600, burst: 50 })).toBe(50);
      // One worker got 421s and asks at 60 a minute (1/s) now.
      expect(await throttled.take('google', 0, { perMinute: 60, burst: 50 })).toBe(0);
      now += 10_000;
      // Ten seconds later the other worker, still at 10/s itself, gets what 1/s refilled.
      expect(await other.take('google', 100, { perMinute: 600, burst: 50 })).toBe(10);
    });

    it('wakes another process when mail is accepted (due) and when events are appended (events)', async () => {
      ctx = await createTestContext({ backend });
      // SQLite is one process: its signals are in-process, heard on the same store.
      const listener = backend === 'postgres' ? await second() : ctx.store;
      const heard: SignalTopic[] = [];
      const stops = [listener.listen('due', () => heard.push('due')), listener.listen('events', () => heard.push('events'))];
      // PostgreSQL: the listening connection opens on the first listener; give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'b@example.org', subject: 'x', text: 'y' });
      await waitFor('both signals', () => (heard.includes('due') && heard.includes('events') ? true : undefined), 5000);
      for (const stop of stops) stop();
      const count = heard.length;
      await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'c@example.org', subject: 'x', text: 'y' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(heard.length).toBe(count);
    });
  });
}
