/**
 * The delivery engine of one worker process: claims due messages from the store in chunks under a
 * lease, builds each message's bytes, hands them to the transport with a bounded number in flight,
 * and records every outcome (in chunked transactions) with its event; a bounce in the SMTP reply
 * also carries its bounce report and the suppression it causes, written in the same transaction.
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
import { DEFAULT_SOFT_BOUNCE_LIMIT, DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS } from '../core/feedback-policy.js';
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
  outcomeOfFrequencyCap,
  type OutcomeContext,
  type SoftBounceSettings,
} from './attempt-outcome.js';
import type { BatchGate } from './batch-gate.js';
import { MessageBuilder, type ReturnPathSettings } from './message-builder.js';
import type { UnsubscribeLinkSettings } from '../tracking/unsubscribe-links.js';
import { SenderNotVerifiedError, type MessageSigner } from './message-signer.js';
import { OutcomeWriter } from './outcome-writer.js';
import { EngineMetrics } from './engine-metrics.js';
import { SuppressionCheck } from './suppression-check.js';
import { FrequencyCheck } from './frequency-check.js';
import type { FrequencyCap } from '../core/frequency-cap.js';
import type { TrackingLinkSettings } from '../tracking/tracking-links.js';

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
  /** Sends every message with its own VERP return path at the bounce domain (`--bounce-domain`). */
  returnPath?: ReturnPathSettings;
  /** Open/click tracking for contents that ask for it (`--public-url`). */
  tracking?: TrackingLinkSettings | undefined;
  /** The server's per-recipient cap on broadcast mail (`--frequency-cap`); batches may set their own. */
  frequencyCap?: FrequencyCap | null;
  /**
   * When soft bounces in SMTP replies suppress an address (`--soft-bounce-limit`,
   * `--soft-bounce-window`), counted with reported ones; default: the settings' defaults (3 in 7 days).
   */
  softBounces?: SoftBounceSettings;
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
  readonly #frequency: FrequencyCheck;
  readonly #softBounces: SoftBounceSettings;
  readonly #queue: ClaimedMessage[] = [];
  /** Messages left unsent because their lease ran out in the local queue. */
  #expired = 0;
  /** When each claimed message's lease ends (ms): past that, another worker may own it. */
  readonly #leaseEnds = new WeakMap<ClaimedMessage, number>();
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
    this.#builder = new MessageBuilder({ unsubscribe: options.unsubscribe, returnPath: options.returnPath, tracking: options.tracking });
    this.#frequency = new FrequencyCheck(options.store, { cap: options.frequencyCap ?? null, metrics: options.metrics });
    this.#softBounces = Object.freeze({ ...(options.softBounces ?? { limit: DEFAULT_SOFT_BOUNCE_LIMIT, windowSeconds: DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS }) });
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
    return { ids: this.#o.ids, retry: this.#o.retry, owner: this.#o.owner, now, random: this.#o.random ?? Math.random, softBounces: this.#softBounces };
  }

  #sleep(ms: number): Promise<void> {
    return this.#waker.sleep(ms);
  }

  async #claim(limit: number): Promise<number> {
    const gate = this.#o.batches;
    await gate?.refresh();
    const now = this.#o.clock.now();
    const lanes = gate ? await gate.lanes(limit) : null;
    let claimed: ClaimedMessage[] = [];
    try {
      claimed = await this.#o.store.claimDue({
        now: now.toISOString(),
        limit,
        owner: this.#o.owner,
        leaseUntil: new Date(now.getTime() + this.#o.leaseSeconds * 1000).toISOString(),
        ...(lanes ? { batches: lanes } : {}),
      });
    } finally {
      // Rate tokens the claim did not use go back to the batches' shared buckets.
      if (gate && lanes) {
        const perBatch = new Map<string, number>();
        for (const m of claimed) if (m.batchId !== null) perBatch.set(m.batchId, (perBatch.get(m.batchId) ?? 0) + 1);
        await gate.claimed(lanes, perBatch).catch((error: unknown) => this.#o.logger.warn({ err: error }, 'returning unused rate tokens failed'));
      }
    }
    try {
      // The last suppression check, one query per chunk: each message asks for its answer at send time.
      await this.#suppressions.load(claimed);
      // Then the frequency caps of broadcast mail, one call per chunk (suppressed mail takes no place).
      await this.#frequency.load(claimed, now, (message) => this.#suppressions.hitFor(message) !== undefined);
      // Which From domains are still verified, seen after the claim (so after every message's acceptance).
      if (claimed.length > 0) await this.#o.signer?.refreshSenders();
    } catch (error) {
      // Unchecked mail must not go: the chunk goes back to the queue, due again in a second.
      this.#o.logger.error({ err: error, messages: claimed.length }, 'suppression, frequency-cap or sending-domain check failed; returning the chunk to the queue');
      for (const message of claimed) this.#writer.add(outcomeOfHold(this.#context(now), message, 1000));
      return 0;
    }
    this.#metrics?.claimed(claimed.length);
    const leaseEnd = now.getTime() + this.#o.leaseSeconds * 1000;
    for (const message of claimed) this.#leaseEnds.set(message, leaseEnd);
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
      if (this.#writer.pending >= this.#o.claimChunk) {
        // Outcomes are being recorded slower than mail goes out: claim no more until they catch up.
        await this.#writer.settle(this.#o.claimChunk);
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
      void this.#deliver(message)
        .catch((error: unknown) => {
          // Not recorded: the lease runs out and the message is claimed again (at least once).
          this.#o.logger.error({ err: error, messageId: message.id }, 'delivery failed unexpectedly; the message will be retried after its lease');
        })
        .finally(() => {
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
    // A message whose lease has run out (or nearly) while it waited in the local queue may be
    // another worker's by now: sending it too would deliver it twice. Leave it; it is claimed again.
    const leaseEnd = this.#leaseEnds.get(message) ?? Number.POSITIVE_INFINITY;
    if (now.getTime() > leaseEnd - Math.min(5000, this.#o.leaseSeconds * 250)) {
      this.#expired += 1;
      if (this.#expired === 1 || this.#expired % 1000 === 0) {
        this.#o.logger.warn({ expired: this.#expired, leaseSeconds: this.#o.leaseSeconds }, 'leases ran out before sending; raise --lease-seconds or lower --claim-chunk');
      }
      return;
    }
    // The view of batch states must be fresh here, not only at claim time: a busy engine with a
    // full local queue does not claim for a while, and a pause must still stop it within a second.
    if (message.batchId !== null) {
      // A store that does not answer (restart) leaves the last view in force: it is a second old at most.
      await this.#o.batches?.refresh().catch((error: unknown) => this.#o.logger.warn({ err: error }, 'refreshing the batch view failed; using the last one'));
    }
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
    const capped = this.#frequency.take(message);
    if (capped) {
      this.#writer.add(outcomeOfFrequencyCap(this.#context(now), message, capped));
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
        outgoing = await this.#o.signer.sign(outgoing, built.fromDomain, message.workspaceId);
      } catch (error) {
        if (error instanceof SenderNotVerifiedError) {
          // Its domain was deleted or fell back to pending after acceptance: unsigned, it would fail DMARC.
          this.#writer.add(outcomeOfFailure(this.#context(now), message, error.message));
          return;
        }
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
