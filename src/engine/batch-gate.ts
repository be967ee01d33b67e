/**
 * What the engine may take from batches right now, from a view of the active batches refreshed
 * every few hundred milliseconds: one claim lane per batch in `canary` (its sample only) or
 * `sending`, each limited by the batch's rate cap (a token bucket of `per_hour`), and a last
 * check before each send, so a pause or cancel reaches messages already claimed within a refresh.
 *
 * Rate caps hold across every worker: a lane's allowance comes from a token bucket kept in the
 * store (`batch:<id>`), taken before the claim, and whatever the claim did not use goes back.
 */
import type { BatchStatus } from '../core/batch-state.js';
import type { BucketRate } from '../core/token-bucket.js';
import type { Message } from '../core/types.js';
import type { BatchLane, BatchRecord, Store } from '../store/store.js';

export type SendDecision = 'send' | 'hold' | 'cancel';

interface LaneState {
  status: BatchStatus;
  perHour: number | null;
}

export class BatchGate {
  readonly #lanes = new Map<string, LaneState>();
  #refreshedAt = 0;
  #refreshing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly refreshMs = 250,
  ) {}

  /** Reloads the active batches when the view is older than the refresh interval. */
  async refresh(force = false): Promise<void> {
    if (!force && this.now() - this.#refreshedAt < this.refreshMs) return;
    this.#refreshing ??= this.#load().finally(() => {
      this.#refreshing = null;
    });
    await this.#refreshing;
  }

  async #load(): Promise<void> {
    const active = await this.store.listActiveBatches();
    const seen = new Set<string>();
    for (const batch of active) {
      seen.add(batch.id);
      const perHour = perHourOf(batch);
      const lane = this.#lanes.get(batch.id);
      if (lane) {
        lane.status = batch.status;
        lane.perHour = perHour;
      } else {
        this.#lanes.set(batch.id, { status: batch.status, perHour });
      }
    }
    // Batches that completed or were cancelled drop out of the view: their messages are cancelled.
    for (const id of this.#lanes.keys()) if (!seen.has(id)) this.#lanes.set(id, { status: 'cancelled', perHour: null });
    this.#refreshedAt = this.now();
  }

  /**
   * The claim lanes for up to `limit` messages, shared across the claimable batches. A capped
   * batch's share is what its shared bucket grants now; `claimed` returns what went unused.
   */
  async lanes(limit: number): Promise<BatchLane[]> {
    const claimable = [...this.#lanes.entries()].filter(([, lane]) => lane.status === 'sending' || lane.status === 'canary');
    if (claimable.length === 0 || limit <= 0) return [];
    const share = Math.max(1, Math.ceil(limit / claimable.length));
    const now = this.now();
    return Promise.all(
      claimable.map(async ([batchId, lane]) => {
        const allowed = lane.perHour === null ? share : await this.store.takeTokens(bucketOf(batchId), share, rateOf(lane.perHour), now);
        return { batchId, limit: allowed, sampleOnly: lane.status === 'canary' };
      }),
    );
  }

  /** After a claim: gives back to a capped batch's bucket the tokens its lane did not use. */
  async claimed(lanes: readonly BatchLane[], perBatch: ReadonlyMap<string, number>): Promise<void> {
    const now = this.now();
    await Promise.all(
      lanes.map(async (lane) => {
        const perHour = this.#lanes.get(lane.batchId)?.perHour ?? null;
        const unused = lane.limit - (perBatch.get(lane.batchId) ?? 0);
        if (perHour !== null && unused > 0) await this.store.takeTokens(bucketOf(lane.batchId), -unused, rateOf(perHour), now);
      }),
    );
  }

  /** The last word before a claimed batch message is sent. Messages outside batches always go. */
  decide(message: Pick<Message, 'batchId' | 'sample'>): SendDecision {
    if (message.batchId === null) return 'send';
    const lane = this.#lanes.get(message.batchId);
    if (!lane) return 'hold';
    if (lane.status === 'cancelled') return 'cancel';
    if (lane.status === 'sending') return 'send';
    if (lane.status === 'canary') return message.sample ? 'send' : 'hold';
    return 'hold';
  }
}

function perHourOf(batch: BatchRecord): number | null {
  const rate = batch.options.rate as { per_hour?: number } | null | undefined;
  return typeof rate?.per_hour === 'number' ? rate.per_hour : null;
}

function bucketOf(batchId: string): string {
  return `batch:${batchId}`;
}

/** A few seconds' worth, at least one: a cap spreads sends over the hour instead of bursting. */
function rateOf(perHour: number): BucketRate {
  return { perSecond: perHour / 3600, burst: Math.max(1, (perHour / 3600) * 2) };
}
