/**
 * What an event adds to the stats rollups: which counter it increments, in which hour bucket,
 * for which recipient domain. The store adapters apply this in the same transaction as the event
 * insert, so `/v1/stats` reads counters and never scans the event log.
 *
 * A rollup row is keyed by (workspace, hour, stream, recipient domain, tag); the tag `''` row is
 * the total over all messages, tagged or not, and a message with N tags adds to N tag rows too.
 * Stream and tags are the message's, so an event counts only when it belongs to a stored message.
 *
 * Counting rules (documented for users in docs/events.md):
 * - one event increments one counter; `deferred` counts deferrals, not messages;
 * - a bounce is hard unless its `bounce_class` says `soft` (a report without a class is hard);
 * - `opened` and `clicked` are unique: only events whose data says `first: true` count (the
 *   tracking code marks the first open / click of each message so).
 */

/** The counters a rollup row holds, in column order. */
export const ROLLUP_COUNTERS = [
  'accepted',
  'sent',
  'delivered',
  'deferred',
  'bounced_hard',
  'bounced_soft',
  'complained',
  'opened',
  'clicked',
  'unsubscribed',
] as const;

export type RollupCounter = (typeof ROLLUP_COUNTERS)[number];

export type RollupCounts = Record<RollupCounter, number>;

/** A rollup row's tag for the total over all messages. */
export const UNTAGGED = '';

const PLAIN: Readonly<Record<string, RollupCounter>> = {
  'message.accepted': 'accepted',
  'message.sent': 'sent',
  'message.delivered': 'delivered',
  'message.deferred': 'deferred',
  'message.complained': 'complained',
  'message.unsubscribed': 'unsubscribed',
};

/** The counter an event of `type` with `data` increments, or null when stats do not count it. */
export function rollupCounterOf(type: string, data: Readonly<Record<string, unknown>>): RollupCounter | null {
  const plain = PLAIN[type];
  if (plain !== undefined) return plain;
  if (type === 'message.bounced') return data.bounce_class === 'soft' ? 'bounced_soft' : 'bounced_hard';
  if (type === 'message.opened') return data.first === true ? 'opened' : null;
  if (type === 'message.clicked') return data.first === true ? 'clicked' : null;
  return null;
}

/**
 * The hour bucket of an ISO 8601 UTC time, as an ISO string (`2026-03-01T14:00:00.000Z`).
 *
 * @example
 * rollupHour('2026-03-01T14:59:59.999Z') // '2026-03-01T14:00:00.000Z'
 */
export function rollupHour(at: string): string {
  const date = new Date(at);
  date.setUTCMinutes(0, 0, 0);
  return date.toISOString();
}

/** The recipient's domain as rollups key it: after the last `@`, lower-cased. */
export function recipientDomain(recipient: string): string {
  return recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
}

/** The tags of a message's rollup rows: the total row (`''`) and each distinct tag. */
export function rollupTags(tags: readonly unknown[]): string[] {
  const rows = new Set<string>([UNTAGGED]);
  for (const tag of tags) if (typeof tag === 'string') rows.add(tag);
  return [...rows];
}

/** Counters all at zero. */
export function zeroCounts(): RollupCounts {
  return Object.fromEntries(ROLLUP_COUNTERS.map((counter) => [counter, 0])) as RollupCounts;
}
