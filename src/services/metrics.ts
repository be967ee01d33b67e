/**
 * `GET /metrics` for operators: the process's metrics registry (engine series, webhook backlog,
 * whatever else recorded into it) plus what is read at scrape time: the delivery queue's depth by
 * state (one grouped count over unfinished mail, across workspaces) and the traffic shaper's
 * state when this process delivers direct to MX. Not tenant data, so no API key: open by default,
 * or behind `--metrics-token`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HeraldError } from '../core/errors.js';
import type { Gauge, MetricsRegistry } from '../lib/metrics.js';
import type { ServiceDeps } from './deps.js';
import type { ShapingSource } from './shaping.js';

/** The webhook dispatcher's backlog: deliveries waiting to be sent or retried (it sets the value). */
export function webhookBacklogGauge(registry: MetricsRegistry): Gauge {
  return registry.gauge('herald_webhook_backlog', 'Webhook deliveries waiting to be sent or retried');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Refuses a scrape without `Authorization: Bearer <token>` when a token is configured. Compared
 * in constant time (over digests, so the length leaks nothing either).
 */
export function checkMetricsToken(authorization: string | undefined, token: string | null): void {
  if (token === null) return;
  const given = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (given === undefined || !timingSafeEqual(digest(given), digest(token))) throw new HeraldError('metrics_token_required');
}

/** Reads the scrape-time values into the registry and renders it as Prometheus text. */
export async function renderMetrics(deps: ServiceDeps, registry: MetricsRegistry, shaping: ShapingSource | null): Promise<string> {
  const depth = await deps.store.countQueue();
  const queue = registry.gauge('herald_queue_messages', 'Messages not yet final, by state, across all workspaces', ['status']);
  for (const [status, count] of Object.entries(depth)) queue.set(count, { status });
  webhookBacklogGauge(registry);

  const rows = shaping?.snapshot() ?? [];
  registry.gauge('herald_shaping_destinations', 'Destinations (MX providers or hosts) the traffic shaper tracks').set(rows.length);
  registry
    .gauge('herald_shaping_destinations_throttled', 'Destinations sending below their limit after a throttling reply')
    .set(rows.filter((row) => row.throttledUntil !== null).length);
  const rate = registry.gauge('herald_shaping_rate_per_minute', 'Messages per minute the shaper allows a destination now', ['destination']);
  const inFlight = registry.gauge('herald_shaping_in_flight', 'Sends in progress per destination', ['destination']);
  rate.reset();
  inFlight.reset();
  for (const row of rows) {
    rate.set(row.ratePerMinute, { destination: row.destination });
    inFlight.set(row.inFlight, { destination: row.destination });
  }
  return registry.render();
}
