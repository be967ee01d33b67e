/**
 * Reading the event log: a workspace's events oldest first after a cursor, filtered by type, for
 * `GET /v1/events` and its live stream. Always within the caller's workspace, scope `read`.
 *
 * Positions are event sequence numbers (`seq`): the list's cursor wraps one, the stream's
 * `Last-Event-ID` is one. Within a workspace `seq` order is commit order, so a reader that
 * continues after the last event it saw misses nothing and sees nothing twice.
 */
import { HeraldError, invalid } from '../core/errors.js';
import { EVENT_TYPES } from '../core/event-types.js';
import type { MessageEvent } from '../core/types.js';
import { checkEventFilter } from '../events/webhooks/event-filter.js';
import { nextSignal } from '../store/signals.js';
import type { EventLogFilter } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor } from './messages.js';

/** Which types to read: exact types and families (`message.*`); every type when both are absent. */
export type EventTypeFilter = Pick<EventLogFilter, 'types' | 'prefixes'>;

export interface EventQuery {
  /** Comma-separated types or families (`message.sent,batch.*`); `*` or absent: every type. */
  type?: string;
  /** A `next_cursor` from an earlier page. */
  after?: string;
  limit?: number;
}

export interface EventPage {
  data: MessageEvent[];
  /**
   * Where the next read continues: after the last event of this page, or where this read started
   * when it found nothing (so a poller keeps its place). Null only when the log had nothing at all.
   */
  nextCursor: string | null;
  /** Whether more events were already there beyond this page. */
  hasMore: boolean;
}

/**
 * Parses a `type` query parameter. Patterns follow webhook filters (`events/webhooks/event-filter.ts`),
 * so `/v1/events` and a webhook endpoint with the same filter see the same events.
 *
 * @example
 * parseTypeFilter('message.*,batch.completed') // { prefixes: ['message.'], types: ['batch.completed'] }
 */
export function parseTypeFilter(type: string | undefined): EventTypeFilter {
  if (type === undefined || type.trim() === '') return {};
  const patterns = type.split(',').map((part) => part.trim());
  const checked = checkEventFilter(patterns, EVENT_TYPES);
  if (!checked.ok) {
    const index = /\[(\d+)\]$/.exec(checked.field)?.[1];
    throw invalid('type', index === undefined ? checked.reason : `entry ${Number(index) + 1}: ${checked.reason}`);
  }
  if (checked.events.includes('*')) return {};
  const prefixes = checked.events.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1));
  const types = checked.events.filter((p) => !p.endsWith('.*'));
  return { ...(types.length > 0 ? { types } : {}), ...(prefixes.length > 0 ? { prefixes } : {}) };
}

export function encodeEventCursor(seq: number): string {
  return encodeCursor(String(seq));
}

export function decodeEventCursor(cursor: string): number {
  const seq = decodeCursor(cursor);
  if (!/^\d{1,15}$/.test(seq)) throw new HeraldError('invalid_cursor');
  return Number(seq);
}

export async function listEvents(deps: ServiceDeps, principal: Principal, query: EventQuery): Promise<EventPage> {
  requireScope(principal, 'read');
  const filter = parseTypeFilter(query.type);
  const after = query.after === undefined ? 0 : decodeEventCursor(query.after);
  const limit = query.limit ?? 100;
  const rows = await deps.store.listEvents(principal.workspaceId, { ...filter, after, limit: limit + 1 });
  const data = rows.slice(0, limit);
  const last = data.at(-1)?.seq ?? (query.after === undefined ? null : after);
  return { data, nextCursor: last === null ? null : encodeEventCursor(last), hasMore: rows.length > limit };
}

/** The stream's next events after the seq `after`, oldest first. */
export async function eventsAfter(
  deps: ServiceDeps,
  principal: Principal,
  after: number,
  filter: EventTypeFilter,
  limit = 500,
): Promise<MessageEvent[]> {
  requireScope(principal, 'read');
  return deps.store.listEvents(principal.workspaceId, { ...filter, after, limit });
}

/**
 * Where a live stream starts, checked before it opens: after the seq in `Last-Event-ID` (a
 * reconnect gets what it missed); else after a list cursor (`after`: a reader that paged through
 * `GET /v1/events` goes live where it stopped); else after the latest event (only new ones).
 */
export async function startEventStream(
  deps: ServiceDeps,
  principal: Principal,
  request: { lastEventId?: string; after?: string; type?: string },
): Promise<{ after: number; filter: EventTypeFilter }> {
  requireScope(principal, 'read');
  const filter = parseTypeFilter(request.type);
  const last = request.lastEventId?.trim();
  if (last !== undefined && last !== '') {
    if (!/^\d{1,15}$/.test(last)) throw invalid('Last-Event-ID', 'must be the id of an event this stream sent');
    return { after: Number(last), filter };
  }
  if (request.after !== undefined) return { after: decodeEventCursor(request.after), filter };
  return { after: await deps.store.latestEventSeq(principal.workspaceId), filter };
}

/**
 * The latest seq of the caller's workspace. Within a workspace seq order is commit order, so once
 * a filtered read after this point is done, a follower may move its position up to it: events it
 * skipped there did not match, and rescanning them on every poll would grow without end.
 */
export async function latestEventSeq(deps: ServiceDeps, principal: Principal): Promise<number> {
  requireScope(principal, 'read');
  return deps.store.latestEventSeq(principal.workspaceId);
}

/**
 * Resolves when any process sharing the store appends events (LISTEN/NOTIFY on PostgreSQL), or
 * after `ms` at the latest: what a live stream waits on between two reads of the log.
 */
export function nextEvents(deps: ServiceDeps, ms: number): Promise<void> {
  return nextSignal((topic, listener) => deps.store.listen(topic, listener), 'events', ms);
}
