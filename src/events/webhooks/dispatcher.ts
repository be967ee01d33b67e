/**
 * The webhook dispatcher of one worker process: follows the event log for every enabled endpoint
 * (fan-out.ts), leases due deliveries and attempts them (attempt.ts) with a bounded number in
 * flight — in all, and per endpoint — so one slow or failing endpoint never holds up the others.
 *
 * ```
 *   every poll: enabled endpoints ──fan-out──> deliveries (pending) in the store
 *   every poll or wake: claim due deliveries (≤ per-endpoint free slots, ≤ free slots in all)
 *                       ──> attempt ──> record (succeeded | failed + next attempt | exhausted)
 * ```
 * All state is in the store: a delivery whose process dies is claimed again when its lease runs
 * out, and a new process picks up pending and failed deliveries where the last one left them.
 * Delivery is at least once; receivers deduplicate by the `webhook-id` header.
 *
 * Must not: decide retries or disabling (attempt.ts), or group events (fan-out.ts).
 */
import type { IdSource } from '../../core/ids.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Gauge } from '../../lib/metrics.js';
import type { Store, Webhook, WebhookDelivery } from '../../store/store.js';
import { attemptDelivery, type AttemptContext } from './attempt.js';
import type { AddressLookup } from './endpoint-guard.js';
import { fanOutEndpoint } from './fan-out.js';
import { DEFAULT_TIMEOUT_MS } from './http-sender.js';
import { WEBHOOK_RETRY_DELAYS_SECONDS } from './retry-schedule.js';
import { Waker } from '../../lib/waker.js';

export interface DispatcherOptions {
  store: Store;
  ids: IdSource;
  clock: Clock;
  logger: Logger;
  /** This process's lease owner name: unique per process. */
  owner: string;
  /** Internal networks endpoints may resolve to (`--webhook-allowlist`). */
  allowlist: readonly string[];
  /** An endpoint failing for longer than this is disabled (`--webhook-disable-after`). */
  disableAfterSeconds: number;
  /** Resolver for endpoint hosts; the system's by default (tests pass their own). */
  lookup?: AddressLookup;
  /** Delays before each attempt in seconds; retry-schedule.ts's by default (tests pass short ones). */
  retryDelaysSeconds?: readonly number[];
  random?: () => number;
  /** Attempts in flight at once, in all. Default 64. */
  concurrency?: number;
  /** Attempts in flight at once per endpoint. Default 4. */
  perEndpoint?: number;
  /** How often the log is followed and due retries looked for. Default 500 ms. */
  pollIntervalMs?: number;
  /** How long a claimed delivery is this process's; must outlast an attempt. Default 60 s. */
  leaseSeconds?: number;
  /** Budget of one POST. Default 10 s. */
  timeoutMs?: number;
  /** Events read per endpoint per round of fan-out. Default 1000. */
  scanLimit?: number;
  /** Set to the number of deliveries waiting (`herald_webhook_backlog`), every few seconds. */
  backlog?: Gauge;
}

/** Rounds of fan-out per endpoint per poll: a backlog is read in a few polls, not one long one. */
const MAX_FAN_OUT_ROUNDS = 10;
/** How often the backlog gauge is refreshed: a count over unfinished deliveries, so not every poll. */
const BACKLOG_INTERVAL_MS = 5000;

export class WebhookDispatcher {
  readonly #o: Readonly<DispatcherOptions>;
  readonly #attempt: AttemptContext;
  readonly #concurrency: number;
  readonly #perEndpoint: number;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #scanLimit: number;
  #endpoints = new Map<string, Webhook>();
  /** Delivery ids in flight, per endpoint. */
  readonly #inFlight = new Map<string, Set<string>>();
  #inFlightTotal = 0;
  #followedAt = Number.NEGATIVE_INFINITY;
  #countedAt = Number.NEGATIVE_INFINITY;
  #running = false;
  #loop: Promise<void> | null = null;
  readonly #waker = new Waker();
  #drained: (() => void) | null = null;

  constructor(options: DispatcherOptions) {
    this.#o = Object.freeze({ ...options });
    this.#concurrency = options.concurrency ?? 64;
    this.#perEndpoint = options.perEndpoint ?? 4;
    this.#pollMs = options.pollIntervalMs ?? 500;
    this.#leaseMs = (options.leaseSeconds ?? 60) * 1000;
    this.#scanLimit = options.scanLimit ?? 1000;
    this.#attempt = {
      store: options.store,
      ids: options.ids,
      clock: options.clock,
      logger: options.logger,
      owner: options.owner,
      allowlist: options.allowlist,
      ...(options.lookup !== undefined ? { lookup: options.lookup } : {}),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      retryDelaysSeconds: options.retryDelaysSeconds ?? WEBHOOK_RETRY_DELAYS_SECONDS,
      random: options.random ?? Math.random,
      disableAfterSeconds: options.disableAfterSeconds,
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((error: unknown) => this.#o.logger.fatal({ err: error }, 'webhook dispatch loop stopped'));
  }

  /** Look for due deliveries now instead of at the next poll. */
  wake(): void {
    this.#waker.wake();
  }

  /** Attempts in flight, in all. */
  get inFlight(): number {
    return this.#inFlightTotal;
  }

  #sleep(ms: number): Promise<void> {
    return this.#waker.sleep(ms);
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        // Process time, not the clock: how often to poll is this process's business.
        if (performance.now() - this.#followedAt >= this.#pollMs) {
          this.#followedAt = performance.now();
          await this.#followLog(this.#o.clock.now());
        }
        if (this.#o.backlog !== undefined && performance.now() - this.#countedAt >= BACKLOG_INTERVAL_MS) {
          this.#countedAt = performance.now();
          this.#o.backlog.set(await this.#o.store.countWebhookBacklog());
        }
        await this.#claim();
      } catch (error) {
        this.#o.logger.error({ err: error }, 'webhook dispatch failed; retrying');
        await this.#sleep(Math.max(this.#pollMs, 1000));
        continue;
      }
      await this.#sleep(this.#pollMs);
    }
  }

  /** Refreshes the enabled endpoints and writes deliveries for the events they have not seen. */
  async #followLog(now: Date): Promise<void> {
    const endpoints = await this.#o.store.listEnabledWebhooks();
    this.#endpoints = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
    for (const endpoint of endpoints) {
      try {
        for (let round = 0; round < MAX_FAN_OUT_ROUNDS && this.#running; round++) {
          const result = await fanOutEndpoint(this.#o.store, this.#o.ids, endpoint, now, this.#scanLimit);
          if (!result.more) break;
        }
      } catch (error) {
        // One endpoint's trouble (a row another process holds, say) must not stop the others.
        this.#o.logger.error({ err: error, webhookId: endpoint.id }, 'webhook fan-out failed');
      }
    }
  }

  async #claim(): Promise<void> {
    const free = this.#concurrency - this.#inFlightTotal;
    if (free <= 0 || !this.#running) return;
    const endpoints = [...this.#endpoints.keys()]
      .map((webhookId) => ({ webhookId, limit: this.#perEndpoint - (this.#inFlight.get(webhookId)?.size ?? 0) }))
      .filter((endpoint) => endpoint.limit > 0);
    if (endpoints.length === 0) return;
    const now = this.#o.clock.now();
    const claimed = await this.#o.store.claimWebhookDeliveries({
      now: now.toISOString(),
      owner: this.#o.owner,
      leaseUntil: new Date(now.getTime() + this.#leaseMs).toISOString(),
      endpoints,
      limit: free,
    });
    for (const delivery of claimed) this.#start(delivery);
  }

  #start(delivery: WebhookDelivery): void {
    // Claims name only endpoints in the map, and the map changes only between claims; were it
    // missing, the lease would simply run out and the delivery be claimed again.
    const endpoint = this.#endpoints.get(delivery.webhookId);
    if (endpoint === undefined) return;
    let ids = this.#inFlight.get(endpoint.id);
    if (ids === undefined) {
      ids = new Set();
      this.#inFlight.set(endpoint.id, ids);
    }
    const mine = ids;
    mine.add(delivery.id);
    this.#inFlightTotal += 1;
    void attemptDelivery(this.#attempt, endpoint, delivery)
      .catch((error: unknown) => this.#o.logger.error({ err: error, deliveryId: delivery.id }, 'webhook attempt could not be recorded'))
      .finally(() => {
        mine.delete(delivery.id);
        if (mine.size === 0) this.#inFlight.delete(endpoint.id);
        this.#inFlightTotal -= 1;
        if (this.#inFlightTotal === 0) this.#drained?.();
        // A slot is free: the endpoint's next due delivery should not wait for the poll.
        if (this.#running) this.wake();
      });
  }

  /**
   * Stops following and claiming, lets attempts in flight finish (up to `timeoutMs`), and gives up
   * the leases of any still running, so another process may attempt them at once.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#waker.wake();
    await this.#loop;
    if (this.#inFlightTotal > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const leased = [...this.#inFlight.values()].flatMap((ids) => [...ids]);
    if (leased.length > 0) {
      const released = await this.#o.store.releaseWebhookLeases(this.#o.owner, leased);
      this.#o.logger.info({ released }, 'returned leased webhook deliveries');
    }
  }
}
