/**
 * One attempt of one delivery: build the body from the stored events, check where the endpoint's
 * host resolves, sign with every active secret, POST, and record the result — the delivery's next
 * state, and the endpoint's failure run — under the delivery's lease. A `410 Gone`, or a failure
 * run longer than the disable-after setting, disables the endpoint with a `webhook.disabled` event.
 *
 * ```
 *   2xx ─────────────────────────────> succeeded
 *   anything else ─┬─ attempts left ──> failed (next_attempt_at = schedule + jitter)
 *                  └─ none left ─────> exhausted
 * ```
 *
 * Owns: the attempt's decisions. Must not: claim, loop or hold state between attempts
 * (dispatcher.ts does), or throw for anything the receiver does (the sender never throws).
 */
import type { IdSource } from '../../core/ids.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { NewEvent, Store, Webhook, WebhookAttemptRecord, WebhookDelivery } from '../../store/store.js';
import { resolveAllowed, type AddressLookup } from './endpoint-guard.js';
import { deliverWebhook, type WebhookResponse } from './http-sender.js';
import { deliveryBody } from './payload.js';
import { nextAttemptAt } from './retry-schedule.js';
import { sign } from './signature.js';

export interface AttemptContext {
  store: Store;
  ids: IdSource;
  clock: Clock;
  logger: Logger;
  /** The lease owner the deliveries were claimed as. */
  owner: string;
  /** Internal networks endpoints may resolve to (`--webhook-allowlist`). */
  allowlist: readonly string[];
  lookup?: AddressLookup;
  /** Budget of one POST, end to end. */
  timeoutMs: number;
  /** Delays before each attempt, in seconds (retry-schedule.ts's by default). */
  retryDelaysSeconds: readonly number[];
  random: () => number;
  /** An endpoint failing for longer than this is disabled. */
  disableAfterSeconds: number;
}

export interface AttemptDecision {
  status: WebhookAttemptRecord['status'];
  attempts: number;
  nextAttemptAt: string | null;
}

/** The delivery's state after an attempt with this response. Pure. */
export function decideAttempt(
  ok: boolean,
  attemptsBefore: number,
  now: Date,
  random: number,
  delaysSeconds: readonly number[],
): AttemptDecision {
  const attempts = attemptsBefore + 1;
  if (ok) return { status: 'succeeded', attempts, nextAttemptAt: null };
  const next = nextAttemptAt(attempts, now, random, delaysSeconds);
  return next === null ? { status: 'exhausted', attempts, nextAttemptAt: null } : { status: 'failed', attempts, nextAttemptAt: next.toISOString() };
}

/** The secrets that sign now: the current one, and the one it replaced while its grace lasts. */
export function activeSecrets(endpoint: Pick<Webhook, 'secret' | 'previousSecret' | 'previousSecretExpiresAt'>, now: Date): string[] {
  const { secret, previousSecret, previousSecretExpiresAt } = endpoint;
  const inGrace = previousSecret !== null && previousSecretExpiresAt !== null && new Date(previousSecretExpiresAt).getTime() > now.getTime();
  return inGrace ? [secret, previousSecret] : [secret];
}

/** Why the endpoint should be disabled after this attempt, or null. */
export function disableReason(response: WebhookResponse, failingSince: string | null, now: Date, disableAfterSeconds: number): string | null {
  if (response.gone) return 'the endpoint answered 410 Gone';
  if (response.ok || failingSince === null) return null;
  const failingMs = now.getTime() - new Date(failingSince).getTime();
  return failingMs > disableAfterSeconds * 1000 ? `failing since ${failingSince}, longer than ${disableAfterSeconds} s` : null;
}

function refused(reason: string): WebhookResponse {
  return { ok: false, status: null, latencyMs: 0, responseSnippet: '', error: `not sent: ${reason}`, gone: false };
}

async function post(ctx: AttemptContext, endpoint: Webhook, deliveryId: string, body: Buffer): Promise<WebhookResponse> {
  const target = await resolveAllowed(new URL(endpoint.url).hostname, {
    allowlist: ctx.allowlist,
    ...(ctx.lookup !== undefined ? { lookup: ctx.lookup } : {}),
  });
  if (!target.ok) return refused(target.reason);
  const now = ctx.clock.now();
  const headers = sign({ id: deliveryId, timestamp: Math.floor(now.getTime() / 1000), body, secrets: activeSecrets(endpoint, now) });
  return deliverWebhook({ url: endpoint.url, addresses: target.addresses, headers, body, timeoutMs: ctx.timeoutMs });
}

async function disable(ctx: AttemptContext, endpoint: Webhook, reason: string, now: Date): Promise<void> {
  const at = now.toISOString();
  const event: NewEvent = {
    id: ctx.ids.next('event'),
    workspaceId: endpoint.workspaceId,
    type: 'webhook.disabled',
    messageId: null,
    batchId: null,
    recipient: null,
    data: { webhook_id: endpoint.id, url: endpoint.url, reason },
    createdAt: at,
  };
  if (await ctx.store.disableWebhook(endpoint.id, reason, event, at)) {
    ctx.logger.warn({ webhookId: endpoint.id, reason }, 'webhook endpoint disabled');
  }
}

/** Records the attempt under the delivery's lease; the endpoint's failing_since after it, or null when the lease was lost. */
async function record(
  ctx: AttemptContext,
  delivery: WebhookDelivery,
  decision: AttemptDecision,
  response: WebhookResponse,
  endpointEffect: WebhookAttemptRecord['endpoint'],
  now: Date,
): Promise<{ failingSince: string | null } | null> {
  const recorded = await ctx.store.recordWebhookAttempt({
    deliveryId: delivery.id,
    webhookId: delivery.webhookId,
    owner: ctx.owner,
    ...decision,
    httpStatus: response.status,
    latencyMs: response.latencyMs,
    responseSnippet: response.responseSnippet,
    error: response.error ?? (response.ok ? null : `HTTP ${response.status ?? 'no status'}`),
    endpoint: endpointEffect,
    now: now.toISOString(),
  });
  if (recorded === null) ctx.logger.warn({ deliveryId: delivery.id }, 'webhook delivery lease lost before its attempt was recorded');
  return recorded;
}

/** Makes one attempt of `delivery` to `endpoint` and records it; throws only when the store does. */
export async function attemptDelivery(ctx: AttemptContext, endpoint: Webhook, delivery: WebhookDelivery): Promise<void> {
  const events = await ctx.store.getEventsByIds(delivery.workspaceId, delivery.eventIds);
  if (events.length === 0) {
    // Nothing to send, and no fault of the endpoint's: give up on the delivery alone.
    const exhausted: AttemptDecision = { status: 'exhausted', attempts: delivery.attempts + 1, nextAttemptAt: null };
    await record(ctx, delivery, exhausted, refused('its events are no longer in the event log'), null, ctx.clock.now());
    return;
  }
  const response = await post(ctx, endpoint, delivery.id, deliveryBody(events, endpoint.batch.maxEvents > 1));
  const now = ctx.clock.now();
  const decision = decideAttempt(response.ok, delivery.attempts, now, ctx.random(), ctx.retryDelaysSeconds);
  const recorded = await record(ctx, delivery, decision, response, response.ok ? 'succeeded' : 'failed', now);
  if (recorded === null) return;
  const reason = disableReason(response, recorded.failingSince, now, ctx.disableAfterSeconds);
  if (reason !== null) await disable(ctx, endpoint, reason, now);
}
