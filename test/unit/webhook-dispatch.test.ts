/**
 * The dispatcher's decisions, without a store or a socket: how events become deliveries, what an
 * attempt's result makes of a delivery, which secrets sign, and when an endpoint is disabled.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { activeSecrets, decideAttempt, disableReason } from '../../src/events/webhooks/attempt.js';
import { groupEvents, planFanOut } from '../../src/events/webhooks/fan-out.js';
import type { WebhookResponse } from '../../src/events/webhooks/http-sender.js';
import { deliveryBody } from '../../src/events/webhooks/payload.js';
import type { MessageEvent } from '../../src/core/types.js';
import type { EventHead } from '../../src/store/store.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const head = (seq: number, type: string, age = 10_000): EventHead => ({ seq, id: `evt_${seq}`, type, createdAt: ago(age) });
const single = { maxEvents: 1, maxLatencyMs: 0 };

describe('fan-out', () => {
  it('makes one delivery per matching event and moves the cursor past the ones that do not match', () => {
    const heads = [head(11, 'message.sent'), head(12, 'batch.progress'), head(13, 'message.bounced'), head(14, 'batch.completed')];
    const plan = planFanOut({ cursor: 10, events: ['message.*'], batch: single }, heads, NOW);
    expect(plan.to).toBe(14);
    expect(plan.groups.map((g) => g.map((h) => h.seq))).toEqual([[11], [13]]);
  });

  it('leaves the cursor where it is when there is nothing new', () => {
    expect(planFanOut({ cursor: 7, events: ['*'], batch: single }, [], NOW)).toEqual({ to: 7, groups: [] });
  });

  it('holds back a young partial batch, stopping the cursor just before it', () => {
    const heads = [head(21, 'message.sent', 50), head(22, 'message.sent', 40), head(23, 'message.sent', 30)];
    const plan = planFanOut({ cursor: 20, events: ['message.sent'], batch: { maxEvents: 2, maxLatencyMs: 1000 } }, heads, NOW);
    expect(plan.groups.map((g) => g.map((h) => h.seq))).toEqual([[21, 22]]);
    expect(plan.to).toBe(22);
  });

  it('sends a partial batch once its oldest event has waited max_latency_ms', () => {
    const heads = [head(31, 'message.sent', 1500), head(32, 'batch.progress', 100)];
    const plan = planFanOut({ cursor: 30, events: ['message.sent'], batch: { maxEvents: 10, maxLatencyMs: 1000 } }, heads, NOW);
    expect(plan).toEqual({ to: 32, groups: [[heads[0]]] });
  });

  it('groups in seq order, at most max_events each', () => {
    const heads = [1, 2, 3, 4, 5].map((seq) => head(seq, 'message.sent'));
    expect(groupEvents(heads, 2).map((g) => g.map((h) => h.seq))).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('an attempt', () => {
  const delays = [0, 5, 300];

  it('succeeds on a 2xx and has nothing more to do', () => {
    expect(decideAttempt(true, 0, NOW, 0.5, delays)).toEqual({ status: 'succeeded', attempts: 1, nextAttemptAt: null });
  });

  it('fails into the next step of the schedule, with jitter', () => {
    expect(decideAttempt(false, 0, NOW, 0.5, delays)).toEqual({ status: 'failed', attempts: 1, nextAttemptAt: '2026-03-01T12:00:05.000Z' });
    const early = decideAttempt(false, 1, NOW, 0, delays).nextAttemptAt;
    expect(early).toBe('2026-03-01T12:04:30.000Z');
  });

  it('is exhausted when the schedule runs out', () => {
    expect(decideAttempt(false, 2, NOW, 0.5, delays)).toEqual({ status: 'exhausted', attempts: 3, nextAttemptAt: null });
  });
});

describe('signing secrets', () => {
  const endpoint = { secret: 'whsec_new', previousSecret: 'whsec_old', previousSecretExpiresAt: ago(-60_000) };

  it('signs with the old secret too while its grace lasts', () => {
    expect(activeSecrets(endpoint, NOW)).toEqual(['whsec_new', 'whsec_old']);
  });

  it('drops the old secret when the grace is over', () => {
    expect(activeSecrets({ ...endpoint, previousSecretExpiresAt: ago(1) }, NOW)).toEqual(['whsec_new']);
    expect(activeSecrets({ secret: 'whsec_only', previousSecret: null, previousSecretExpiresAt: null }, NOW)).toEqual(['whsec_only']);
  });
});

describe('disabling', () => {
  const answer = (status: number | null, ok = false): WebhookResponse => ({ ok, status, latencyMs: 5, responseSnippet: '', error: null, gone: status === 410 });

  it('disables at once on 410 Gone', () => {
    expect(disableReason(answer(410), null, NOW, 3600)).toBe('the endpoint answered 410 Gone');
  });

  it('disables an endpoint failing for longer than the limit, and only then', () => {
    expect(disableReason(answer(500), ago(3601_000), NOW, 3600)).toMatch(/^failing since .* longer than 3600 s$/);
    expect(disableReason(answer(500), ago(3599_000), NOW, 3600)).toBeNull();
    expect(disableReason(answer(200, true), ago(9999_000), NOW, 3600)).toBeNull();
  });
});

describe('the body', () => {
  const event = (n: number): MessageEvent => ({
    id: `evt_${n}`,
    seq: n,
    workspaceId: 'ws_1',
    type: 'message.sent',
    messageId: `msg_${n}`,
    batchId: null,
    recipient: 'ann@example.org',
    data: { reply: '250 ok' },
    createdAt: NOW.toISOString(),
  });

  it('is one object without batching and an array with it', () => {
    const one = JSON.parse(deliveryBody([event(1)], false).toString());
    expect(one).toEqual({
      id: 'evt_1',
      type: 'message.sent',
      created_at: NOW.toISOString(),
      message_id: 'msg_1',
      batch_id: null,
      recipient: 'ann@example.org',
      data: { reply: '250 ok' },
    });
    expect(JSON.parse(deliveryBody([event(1)], true).toString())).toHaveLength(1);
    // A delivery made while batching stays whole even if batching was turned off since.
    expect(JSON.parse(deliveryBody([event(1), event(2)], false).toString())).toHaveLength(2);
  });

  it('is the same bytes on every attempt', () => {
    expect(deliveryBody([event(1), event(2)], true).equals(deliveryBody([event(1), event(2)], true))).toBe(true);
  });
});

describe('the webhook settings', () => {
  it('reads the allowlist as a list and disable-after as a duration (3 days by default)', () => {
    const config = loadConfig({ env: { HERALD_WEBHOOK_ALLOWLIST: '127.0.0.0/8, 10.1.0.0/16', HERALD_WEBHOOK_DISABLE_AFTER: '12h' } });
    expect(config.webhookAllowlist).toEqual(['127.0.0.0/8', '10.1.0.0/16']);
    expect(config.webhookDisableAfter).toBe(12 * 3600);
    expect(loadConfig({ env: {} }).webhookDisableAfter).toBe(3 * 86400);
  });

  it('refuses an allowlist entry that is not an address or CIDR, at start-up', () => {
    expect(() => loadConfig({ env: { HERALD_WEBHOOK_ALLOWLIST: '127.0.0.0/8,localhost' } })).toThrow(/webhookAllowlist: "localhost" is not an IP address or CIDR/);
  });
});
