/**
 * Delivery and engagement stats for a time range, per hour or per UTC day, for the caller's
 * workspace (scope `read`), optionally for one tag, stream or recipient domain.
 *
 * Computed from the rollup counters that event inserts maintain (core/event-rollup.ts), never by
 * scanning the event log: a query reads at most one row per (hour, stream, domain) of the range.
 * Day buckets are sums of their 24 hours. The range is widened to whole buckets: `from` down to
 * the start of its hour (or day), `to` up to the end of its own.
 */
import { invalid } from '../core/errors.js';
import { ROLLUP_COUNTERS, UNTAGGED, zeroCounts, type RollupCounts } from '../core/event-rollup.js';
import type { Stream } from '../core/types.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';

export type StatsInterval = 'hour' | 'day';

export interface StatsQuery {
  from?: string;
  to?: string;
  interval?: string;
  tag?: string;
  stream?: string;
  domain?: string;
}

export interface StatsBucket {
  /** The bucket's first instant (ISO 8601, UTC). */
  start: string;
  counts: RollupCounts;
}

export interface Stats {
  /** The range actually covered, widened to whole buckets; `to` is exclusive. */
  from: string;
  to: string;
  interval: StatsInterval;
  tag: string | null;
  stream: Stream | null;
  domain: string | null;
  /** Every bucket of the range in order, empty ones at zero. */
  buckets: StatsBucket[];
  totals: RollupCounts;
}

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** The most buckets one query answers: 31 days of hours, 366 days of days. */
export const STATS_LIMITS = Object.freeze({ hourRangeDays: 31, dayRangeDays: 366 });

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

function parseTime(field: string, raw: string): Date {
  // An unencoded `+` in a query string arrives as a space: `…T12:00:00 02:00` meant `+02:00`.
  const value = raw.replace(/ (\d{2}:?\d{2})$/, '+$1');
  if (!ISO_DATE.test(value) && !ISO_DATE_TIME.test(value)) {
    throw invalid(field, `"${value}" is not an ISO 8601 date (2026-03-01) or date-time with a time zone (2026-03-01T12:00:00Z)`);
  }
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw invalid(field, `"${value}" is not a valid date`);
  return at;
}

function floorTo(at: number, size: number): number {
  return Math.floor(at / size) * size;
}

function ceilTo(at: number, size: number): number {
  return Math.ceil(at / size) * size;
}

function parseInterval(value: string | undefined): StatsInterval {
  if (value === undefined || value === 'hour') return 'hour';
  if (value === 'day') return 'day';
  throw invalid('interval', 'must be hour or day');
}

function parseStream(value: string | undefined): Stream | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'transactional' || value === 'broadcast') return value;
  throw invalid('stream', 'must be transactional or broadcast');
}

function parseText(field: string, value: string | undefined, max: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > max) throw invalid(field, `must be at most ${max} characters`);
  return value;
}

export async function getStats(deps: ServiceDeps, principal: Principal, query: StatsQuery): Promise<Stats> {
  requireScope(principal, 'read');
  const interval = parseInterval(query.interval);
  const size = interval === 'hour' ? HOUR_MS : DAY_MS;
  const to = query.to === undefined ? deps.clock.now() : parseTime('to', query.to);
  const from =
    query.from === undefined ? new Date(to.getTime() - (interval === 'hour' ? DAY_MS : 30 * DAY_MS)) : parseTime('from', query.from);
  if (from.getTime() >= to.getTime()) throw invalid('from', 'must be before to');
  const start = floorTo(from.getTime(), size);
  const end = ceilTo(to.getTime(), size);
  const maxDays = interval === 'hour' ? STATS_LIMITS.hourRangeDays : STATS_LIMITS.dayRangeDays;
  if (end - start > maxDays * DAY_MS) {
    throw invalid('to', `an interval of ${interval}s covers at most ${maxDays} days${interval === 'hour' ? '; use interval=day' : ''}`);
  }
  const tag = parseText('tag', query.tag, 128);
  const stream = parseStream(query.stream);
  const domain = parseText('domain', query.domain?.trim().toLowerCase(), 255);

  const hours = await deps.store.sumRollups(principal.workspaceId, {
    from: new Date(start).toISOString(),
    to: new Date(end).toISOString(),
    tag: tag ?? UNTAGGED,
    ...(stream !== undefined ? { stream } : {}),
    ...(domain !== undefined ? { domain } : {}),
  });
  const buckets: StatsBucket[] = [];
  for (let at = start; at < end; at += size) buckets.push({ start: new Date(at).toISOString(), counts: zeroCounts() });
  const totals = zeroCounts();
  for (const hour of hours) {
    const bucket = buckets[Math.floor((new Date(hour.hour).getTime() - start) / size)];
    if (!bucket) continue;
    for (const counter of ROLLUP_COUNTERS) {
      bucket.counts[counter] += hour.counts[counter];
      totals[counter] += hour.counts[counter];
    }
  }
  return {
    from: new Date(start).toISOString(),
    to: new Date(end).toISOString(),
    interval,
    tag: tag ?? null,
    stream: stream ?? null,
    domain: domain ?? null,
    buckets,
    totals,
  };
}
