/**
 * An endpoint's delivery log, and replay: sending a window of the event log to an endpoint again.
 *
 * A replay writes new deliveries (new `webhook-id`s; the events keep their ids, so a receiver that
 * deduplicates by event id sees repeats as repeats) for every event created in [from, to) that the
 * endpoint's filter matches, grouped as the endpoint batches. The dispatcher sends them like any
 * other delivery. A window holding more than REPLAY_MAX_EVENTS matching events is refused whole,
 * before anything is written.
 */
import { HeraldError, invalid } from '../core/errors.js';
import { eventMatches } from '../events/webhooks/event-filter.js';
import { groupEvents } from '../events/webhooks/fan-out.js';
import type { EventHead, NewWebhookDelivery, WebhookDelivery, WebhookDeliveryStatus } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';
import { requireScope } from './keys.js';
import { getWebhook } from './webhooks.js';

/** Most events one replay may send. */
export const REPLAY_MAX_EVENTS = 100_000;
/** Events read from the log per query while collecting a replay. */
const REPLAY_PAGE = 5000;

export const DELIVERY_STATUSES: readonly WebhookDeliveryStatus[] = ['pending', 'succeeded', 'failed', 'exhausted'];

export async function listWebhookDeliveries(
  deps: ServiceDeps,
  principal: Principal,
  webhookId: string,
  query: { status?: WebhookDeliveryStatus; cursor?: string; limit?: number },
): Promise<Page<WebhookDelivery>> {
  // Checks the endpoint is the caller's (404 otherwise), and the scope.
  await getWebhook(deps, principal, webhookId);
  const limit = query.limit ?? 50;
  const rows = await deps.store.listWebhookDeliveries(principal.workspaceId, webhookId, {
    limit: limit + 1,
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(query.cursor !== undefined ? { before: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

function isoTime(field: string, value: string): string {
  const time = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(time)) throw invalid(field, 'must be an ISO 8601 date-time');
  return new Date(time).toISOString();
}

export interface ReplayResult {
  /** Matching events in the window, each now in one new delivery. */
  events: number;
  deliveries: number;
  from: string;
  to: string;
}

/** Queues every matching event created in [from, to) for the endpoint again, as new deliveries. */
export async function replayWebhook(
  deps: ServiceDeps,
  principal: Principal,
  webhookId: string,
  window: { from: string; to: string },
): Promise<ReplayResult> {
  requireScope(principal, 'full');
  const from = isoTime('from', window.from);
  const to = isoTime('to', window.to);
  if (from >= to) throw invalid('to', 'must be after from');
  const endpoint = await getWebhook(deps, principal, webhookId);

  const matching: EventHead[] = [];
  for (let after = 0; ; ) {
    const page = await deps.store.listEventHeads(principal.workspaceId, { afterSeq: after, created: { from, to } }, REPLAY_PAGE);
    for (const head of page) if (eventMatches(endpoint.events, head.type)) matching.push(head);
    if (matching.length > REPLAY_MAX_EVENTS) throw new HeraldError('replay_too_large', { max: REPLAY_MAX_EVENTS });
    const last = page.at(-1);
    if (last === undefined || page.length < REPLAY_PAGE) break;
    after = last.seq;
  }

  const now = deps.clock.now().toISOString();
  const deliveries: NewWebhookDelivery[] = groupEvents(matching, endpoint.batch.maxEvents).map((group) => ({
    id: deps.ids.next('webhookDelivery'),
    webhookId,
    workspaceId: principal.workspaceId,
    eventIds: group.map((head) => head.id),
    replay: true,
    nextAttemptAt: now,
    createdAt: now,
  }));
  // One transaction: a replay is queued whole or not at all.
  if (deliveries.length > 0) await deps.store.insertWebhookDeliveries(deliveries);
  return { events: matching.length, deliveries: deliveries.length, from, to };
}
