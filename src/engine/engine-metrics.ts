/**
 * The delivery engine's series in a process's metrics registry: send outcomes and transport
 * latency, claim chunk sizes, and what is in flight. The engine calls these from its loop; each
 * call is a map update, cheap enough for every send.
 */
import type { MessageStatus } from '../core/message-state.js';
import { LATENCY_BUCKETS, type Counter, type Histogram, type MetricsRegistry } from '../lib/metrics.js';

/** Claim sizes, in messages (the default `--claim-chunk` is 500). */
const CLAIM_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

export class EngineMetrics {
  readonly #outcomes: Counter<'outcome'>;
  readonly #latency: Histogram;
  readonly #claims: Histogram;

  constructor(registry: MetricsRegistry, state: { inFlight: () => number; queued: () => number }) {
    this.#outcomes = registry.counter(
      'herald_messages_total',
      'Delivery attempts handed to the transport by this process since it started, by outcome (sent, deferred, bounced, failed)',
      ['outcome'],
    );
    this.#latency = registry.histogram('herald_transport_send_seconds', 'Time the transport took to answer one send, in seconds', LATENCY_BUCKETS);
    this.#claims = registry.histogram('herald_engine_claim_size', 'Messages taken per claim from the store (claims that found work)', CLAIM_BUCKETS);
    registry.gauge('herald_engine_in_flight', 'Deliveries this process has handed to the transport and not yet finished').track(state.inFlight);
    registry.gauge('herald_engine_queued', 'Messages this process has claimed and not yet started').track(state.queued);
  }

  /** One send's outcome (the status it moved the message to) and how long the transport took. */
  sent(status: MessageStatus, seconds: number): void {
    // A send the transport held back (traffic shaping) was no attempt: the message is queued again.
    if (status === 'queued') return;
    this.#outcomes.inc({ outcome: status });
    this.#latency.observe(seconds);
  }

  claimed(count: number): void {
    if (count > 0) this.#claims.observe(count);
  }
}
