/**
 * The delivery engine of one worker process: claims due messages from the store in chunks under a
 * lease, builds each message's bytes, hands them to the transport with a bounded number in flight,
 * and records every outcome (in chunked transactions) with its event.
 *
 * ```
 *   idle ──wake / poll / due time──> claiming ──chunk──> local queue ──> in flight (≤ concurrency)
 *     ^                                 │ (empty)                          │ result
 *     └─────────────────────────────────┘                                  v
 *                                                              outcome writer (one tx per chunk)
 * ```
 * Claiming refills the local queue while it is less than half full, so the transport never waits
 * for the store. Memory is bounded by the claim chunk and the concurrency, never by the size of
 * the queue in the store. A message whose process dies is claimed again when its lease expires.
 */
import type { IdSource } from '../core/ids.js';
import type { RetryPolicy } from '../core/retry-policy.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { Waker } from '../lib/waker.js';
import type { MetricsRegistry } from '../lib/metrics.js';
import type { ClaimedMessage, Store } from '../store/store.js';
import type { Transport } from '../transports/transport.js';
import {
  outcomeOfAttempt,
  outcomeOfCancel,
  outcomeOfExpiry,
  outcomeOfFailure,
  outcomeOfHold,
  outcomeOfSuppression,
  type OutcomeContext,
} from './attempt-outcome.js';
import type { BatchGate } from './batch-gate.js';
import { MessageBuilder } from './message-builder.js';
import type { UnsubscribeLinkSettings } from '../tracking/unsubscribe-links.js';
import type { MessageSigner } from './message-signer.js';
import { OutcomeWriter } from './outcome-writer.js';
import { EngineMetrics } from './engine-metrics.js';
import { SuppressionCheck } from './suppression-check.js';

export interface EngineOptions {
  store: Store;
  transport: Transport;
  clock: Clock;
  ids: IdSource;
  retry: RetryPolicy;
  logger: Logger;
  /** This worker's lease owner name: unique per process. */
  owner: string;
  leaseSeconds: number;
  claimChunk: number;
  /** Deliveries in flight at once. */
  concurrency: number;
  pollIntervalSeconds: number;
  /** Signs with the From domain's DKIM keys; none: mail leaves unsigned. */
  signer?: MessageSigner;
  /** Puts RFC 8058 unsubscribe headers (and, when needed, a footer) into broadcast mail. */
  unsubscribe?: UnsubscribeLinkSettings;
  /** Which batches may be claimed from, at what rate, and the last check before a send. */
  batches?: BatchGate;
  random?: () => number;
  /** Where the engine records send outcomes, transport latency, claim sizes and what is in flight. */
  metrics?: MetricsRegistry;
}

export interface EngineStats {
  queued: number;
  inFlight: number;
  delivered: number;
  unrecorded: number;
}

export class Engine {
  readonly #o: Readonly<EngineOptions>;
  readonly #builder: MessageBuilder;
  readonly #writer: OutcomeWriter;
  readonly #metrics: EngineMetrics | null;
  readonly #suppressions: SuppressionCheck;
  readonly #queue: ClaimedMessage[] = [];
  #inFlight = 0;
  #attempted = 0;
  #running = false;
  #loop: Promise<void> | null = null;
  readonly #waker = new Waker();
  #drained: (() => void) | null = null;

  constructor(options: EngineOptions) {
    this.#o = Object.freeze({ ...options });
    this.#writer = new OutcomeWriter(options.store, options.logger, { chunk: options.claimChunk, maxDelayMs: 50 });
    this.#metrics = options.metrics ? new EngineMetrics(options.metrics, { inFlight: () => this.#inFlight, queued: () => this.#queue.length }) : null;
    this.#suppressions = new SuppressionCheck(options.store);
    this.#builder = new MessageBuilder({ unsubscribe: options.unsubscribe });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((error: unknown) => this.#o.logger.fatal({ err: error }, 'delivery loop stopped'));
  }

  /** New work was committed: look now instead of at the next poll. */
  wake(): void {
    this.#waker.wake();
  }

  stats(): EngineStats {
    return { queued: this.#queue.length, inFlight: this.#inFlight, delivered: this.#attempted, unrecorded: this.#writer.pending };
  }

  #context(now: Date): OutcomeContext {
    return { ids: this.#o.ids, retry: this.#o.retry, owner: this.#o.owner, now, random: this.#o.random ?? Math.random };
  }

  #sleep(ms: number): Promise<void> {
    return this.#waker.sleep(ms);
  }

  async #claim(limit: number): Promise<number> {
    const gate = this.#o.batches;
    await gate?.refresh();
    const now = this.#o.clock.now();
    const claimed = await this.#o.store.claimDue({
      now: now.toISOString(),
      limit,
      owner: this.#o.owner,
      leaseUntil: new Date(now.getTime() + this.#o.leaseSeconds * 1000).toISOString(),
      ...(gate ? { batches: gate.lanes(limit) } : {}),
    });
    if (gate) {
      const perBatch = new Map<string, number>();
      for (const m of claimed) if (m.batchId !== null) perBatch.set(m.batchId, (perBatch.get(m.batchId) ?? 0) + 1);
      for (const [batchId, count] of perBatch) gate.claimed(batchId, count);
    }
    try {
      // The last suppression check, one query per chunk: each message asks for its answer at send time.
      await this.#suppressions.load(claimed);
    } catch (error) {
      // Unchecked mail must not go: the chunk goes back to the queue, due again in a second.
      this.#o.logger.error({ err: error, messages: claimed.length }, 'suppression check failed; returning the chunk to the queue');
      for (const message of claimed) this.#writer.add(outcomeOfHold(this.#context(now), message, 1000));
      return 0;
    }
    this.#metrics?.claimed(claimed.length);
    this.#queue.push(...claimed);
    return claimed.length;
  }

  async #run(): Promise<void> {
    const pollMs = this.#o.pollIntervalSeconds * 1000;
    while (this.#running) {
      this.#pump();
      if (this.#queue.length >= this.#o.claimChunk / 2) {
        await this.#sleep(pollMs);
        continue;
      }
      let claimed = 0;
      try {
        claimed = await this.#claim(this.#o.claimChunk - this.#queue.length);
      } catch (error) {
        this.#o.logger.error({ err: error }, 'claiming due messages failed; retrying');
        await this.#sleep(Math.max(pollMs, 1000));
        continue;
      }
      this.#pump();
      if (claimed > 0) continue;
      await this.#sleep(await this.#idleDelay(pollMs));
    }
  }

  /** How long an idle worker sleeps: until the next due message, at most one poll interval. */
  async #idleDelay(pollMs: number): Promise<number> {
    if (this.#inFlight > 0) return pollMs;
    try {
      const next = await this.#o.store.nextDueAt();
      if (next === null) return pollMs;
      return Math.max(5, Math.min(pollMs, new Date(next).getTime() - this.#o.clock.now().getTime()));
    } catch {
      return pollMs;
    }
  }

  /** Starts deliveries from the local queue up to the concurrency limit. */
  #pump(): void {
    while (this.#inFlight < this.#o.concurrency && this.#queue.length > 0) {
      const message = this.#queue.shift() as ClaimedMessage;
      this.#inFlight += 1;
      void this.#deliver(message).finally(() => {
        this.#inFlight -= 1;
        if (this.#inFlight === 0) this.#drained?.();
        if (this.#running) {
          this.#pump();
          // Refill before the queue runs dry, so the transport is never idle waiting for a claim.
          if (this.#queue.length < this.#o.claimChunk / 2) this.wake();
        }
      });
    }
  }

  async #deliver(message: ClaimedMessage): Promise<void> {
    const now = this.#o.clock.now();
    // The view of batch states must be fresh here, not only at claim time: a busy engine with a
    // full local queue does not claim for a while, and a pause must still stop it within a second.
    if (message.batchId !== null) await this.#o.batches?.refresh();
    const decision = this.#o.batches?.decide(message) ?? 'send';
    if (decision === 'hold') {
      // Paused (or not yet claimable) since it was claimed: back to the queue, untouched.
      this.#writer.add(outcomeOfHold(this.#context(now), message, 0));
      return;
    }
    if (decision === 'cancel') {
      this.#writer.add(outcomeOfCancel(this.#context(now), message));
      return;
    }
    const suppressed = this.#suppressions.hitFor(message);
    if (suppressed) {
      this.#writer.add(outcomeOfSuppression(this.#context(now), message, suppressed));
      return;
    }
    const neverTried = message.batchId !== null && message.attempts === 0;
    if (!neverTried && now.getTime() >= new Date(message.expiresAt).getTime()) {
      this.#writer.add(outcomeOfExpiry(this.#context(now), message));
      return;
    }
    let built;
    try {
      built = await this.#builder.build(message, now);
    } catch (error) {
      this.#o.logger.warn({ err: error, messageId: message.id }, 'message could not be composed');
      this.#writer.add(outcomeOfFailure(this.#context(now), message, `composition failed: ${(error as Error).message}`));
      return;
    }
    let outgoing = built.outgoing;
    if (this.#o.signer) {
      try {
        outgoing = await this.#o.signer.sign(outgoing, built.fromDomain);
      } catch (error) {
        // A signer fault (a worker thread died) is ours, not the message's: try again later.
        this.#o.logger.error({ err: error, messageId: message.id }, 'DKIM signing failed');
        const result = { code: 0, reply: `4.3.0 DKIM signing failed: ${(error as Error).message}` };
        this.#writer.add(outcomeOfAttempt(this.#context(now), message, 'dkim', result));
        return;
      }
    }
    const started = performance.now();
    const result = await this.#o.transport.send(outgoing);
    this.#attempted += 1;
    const outcome = outcomeOfAttempt(this.#context(this.#o.clock.now()), message, this.#o.transport.name, result);
    this.#metrics?.sent(outcome.status, (performance.now() - started) / 1000);
    this.#writer.add(outcome);
  }

  /**
   * Stops claiming, lets deliveries in flight finish (up to `timeoutMs`), records their outcomes,
   * returns every message this worker still holds to the queue, and closes the transport.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#waker.wake();
    await this.#loop;
    // Messages claimed but not started go straight back; in-flight ones get `timeoutMs` to finish.
    this.#queue.length = 0;
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.#writer.close();
    const released = await this.#o.store.releaseLeases(this.#o.owner, this.#o.clock.now().toISOString());
    if (released > 0) this.#o.logger.info({ released }, 'returned leased messages to the queue');
    await this.#o.transport.close();
    await this.#o.signer?.close();
  }
}
