/**
 * An endpoint's event filter: which event types it subscribes to.
 *
 * A filter is a non-empty list of patterns. A pattern is a known event type (`message.sent`), a
 * family wildcard (`message.*`: every known type that starts with `message.`, at any depth) or `*`
 * (everything, including types added later). Anything else — unknown names, wildcards in other
 * positions, families with no known member — is refused when the endpoint is saved, so a typo
 * never turns into a silently empty subscription.
 *
 * Owns: validating and matching patterns. Must not: hard-code the list of event types (the caller
 * passes the known types, so the filter never drifts from the event log's vocabulary), or touch
 * the store.
 */

export const MAX_FILTER_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 100;

export type EventFilterCheck =
  | { ok: true; events: string[] }
  | { ok: false; field: string; reason: string };

function isFamilyWildcard(pattern: string): boolean {
  return pattern.length > 2 && pattern.endsWith('.*') && !pattern.slice(0, -2).includes('*');
}

/**
 * Validates a filter as it arrives in a request body and returns it without duplicates, in the
 * order given.
 *
 * @example
 * checkEventFilter(['message.*', 'batch.completed'], KNOWN_EVENT_TYPES)
 * // { ok: true, events: ['message.*', 'batch.completed'] }
 * checkEventFilter(['message.sen'], KNOWN_EVENT_TYPES)
 * // { ok: false, field: 'events[0]', reason: 'unknown event type "message.sen"' }
 */
export function checkEventFilter(input: unknown, knownTypes: readonly string[]): EventFilterCheck {
  if (!Array.isArray(input)) return { ok: false, field: 'events', reason: 'must be an array of event types' };
  if (input.length === 0) return { ok: false, field: 'events', reason: 'must name at least one event type, or "*"' };
  if (input.length > MAX_FILTER_PATTERNS) {
    return { ok: false, field: 'events', reason: `at most ${MAX_FILTER_PATTERNS} entries` };
  }
  const list: readonly unknown[] = input;
  const known = new Set(knownTypes);
  const events: string[] = [];
  for (const [i, pattern] of list.entries()) {
    const field = `events[${i}]`;
    if (typeof pattern !== 'string') return { ok: false, field, reason: 'must be a string' };
    if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) {
      return { ok: false, field, reason: `must be 1 to ${MAX_PATTERN_LENGTH} characters` };
    }
    if (pattern !== '*' && !known.has(pattern)) {
      if (!isFamilyWildcard(pattern)) {
        const reason = pattern.includes('*')
          ? `"${pattern}": a wildcard may only be "*" or end a family, like "message.*"`
          : `unknown event type "${pattern}"`;
        return { ok: false, field, reason };
      }
      const prefix = pattern.slice(0, -1);
      if (!knownTypes.some((type) => type.startsWith(prefix))) {
        return { ok: false, field, reason: `no known event type matches "${pattern}"` };
      }
    }
    if (!events.includes(pattern)) events.push(pattern);
  }
  return { ok: true, events };
}

/** Whether an event of `type` goes to an endpoint whose (validated) filter is `patterns`. */
export function eventMatches(patterns: readonly string[], type: string): boolean {
  return patterns.some(
    (pattern) => pattern === '*' || pattern === type || (isFamilyWildcard(pattern) && type.startsWith(pattern.slice(0, -1))),
  );
}
