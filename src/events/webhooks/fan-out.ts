/**
 * Fan-out: turning an endpoint's share of the event log into deliveries.
 *
 * An endpoint reads its workspace's events after its cursor, in `seq` order (commit order within a
 * workspace, so nothing committed late is passed over), keeps those its filter matches, groups
 * them by `batch.max_events`, and moves the cursor over what it read in the same transaction that
 * writes the deliveries. The cursor moves by compare-and-set, so when two processes read the same
 * events only one writes deliveries for them.
 *
 * Batching: a last group smaller than `max_events` waits (the cursor stops before it) until it
 * fills or its oldest event is `max_latency_ms` old.
 *
 * Owns: the grouping rules. Must not: send, sign or decide retries (dispatcher.ts, attempt.ts).
 */
import type { IdSource } from '../../core/ids.js';
import type { EventHead, NewWebhookDelivery, Store, Webhook } from '../../store/store.js';
import { eventMatches } from './event-filter.js';

export interface FanOutPlan {
  /** Where the cursor goes: every event at or below it is in `groups` or did not match. */
  to: number;
  /** Each group is one delivery, in seq order. */
  groups: EventHead[][];
}

/** Splits matching events into deliveries of at most `maxEvents` each. */
export function groupEvents(heads: readonly EventHead[], maxEvents: number): EventHead[][] {
  const groups: EventHead[][] = [];
  for (let i = 0; i < heads.length; i += maxEvents) groups.push(heads.slice(i, i + maxEvents));
  return groups;
}

/**
 * What to do with the events read after the endpoint's cursor (`heads`, in seq order). Pure.
 *
 * @example
 * planFanOut({ cursor: 10, events: ['message.*'], batch: { maxEvents: 1, maxLatencyMs: 0 } }, heads, now)
 * // { to: 14, groups: [[seq 11], [seq 13]] }   (seq 12 and 14 were batch.* events)
 */
export function planFanOut(endpoint: Pick<Webhook, 'cursor' | 'events' | 'batch'>, heads: readonly EventHead[], now: Date): FanOutPlan {
  const last = heads.at(-1);
  if (last === undefined) return { to: endpoint.cursor, groups: [] };
  const { maxEvents, maxLatencyMs } = endpoint.batch;
  const groups = groupEvents(
    heads.filter((head) => eventMatches(endpoint.events, head.type)),
    maxEvents,
  );
  const tail = groups.at(-1);
  const oldest = tail?.[0];
  if (tail !== undefined && oldest !== undefined && tail.length < maxEvents) {
    const age = now.getTime() - new Date(oldest.createdAt).getTime();
    if (age < maxLatencyMs) return { to: oldest.seq - 1, groups: groups.slice(0, -1) };
  }
  return { to: last.seq, groups };
}

export interface FanOutResult {
  /** Deliveries written. */
  created: number;
  /** The read was cut by `scanLimit` and the cursor moved: there may be more to read now. */
  more: boolean;
}

/**
 * One round of fan-out for one endpoint: read up to `scanLimit` events after its cursor, write
 * their deliveries, move the cursor. Updates `endpoint.cursor` (the caller's copy) when it moved.
 */
export async function fanOutEndpoint(
  store: Store,
  ids: IdSource,
  endpoint: Webhook,
  now: Date,
  scanLimit: number,
): Promise<FanOutResult> {
  const heads = await store.listEventHeads(endpoint.workspaceId, { afterSeq: endpoint.cursor }, scanLimit);
  const plan = planFanOut(endpoint, heads, now);
  if (plan.to === endpoint.cursor) return { created: 0, more: false };
  const at = now.toISOString();
  const deliveries: NewWebhookDelivery[] = plan.groups.map((group) => ({
    id: ids.next('webhookDelivery'),
    webhookId: endpoint.id,
    workspaceId: endpoint.workspaceId,
    eventIds: group.map((head) => head.id),
    replay: false,
    nextAttemptAt: at,
    createdAt: at,
  }));
  const moved = await store.advanceWebhookCursor(endpoint.id, endpoint.cursor, plan.to, deliveries);
  if (!moved) return { created: 0, more: false };
  endpoint.cursor = plan.to;
  return { created: deliveries.length, more: heads.length === scanLimit };
}
