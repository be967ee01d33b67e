/** What the API's route plugins share. */
import type { ServerResponse } from 'node:http';
import type { MetricsRegistry } from '../lib/metrics.js';
import type { ServiceDeps } from '../services/deps.js';
import type { ShapingSource } from '../services/shaping.js';
import type { RateLimiter } from './rate-limit.js';

export interface ApiContext {
  deps: ServiceDeps;
  limiter: RateLimiter;
  /** Resolves true when the process can take and deliver mail (store answers, listeners up). */
  ready: () => Promise<boolean>;
  /** This process's traffic shaper, when it delivers direct to MX; null otherwise. */
  shaping: ShapingSource | null;
  /** Open live streams (SSE), ended when the app closes. */
  streams: Set<ServerResponse>;
  /** The process's metrics, rendered at GET /metrics. */
  metrics: MetricsRegistry;
  /** The bearer token GET /metrics requires; null: open. */
  metricsToken: string | null;
}
