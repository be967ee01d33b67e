/**
 * The frequency-cap check just before a send, at one store call per claimed chunk: the engine
 * hands over each chunk as it claims it (after the suppression check); this works out each
 * broadcast message's cap (its batch's `frequency_cap`, else the server's `--frequency-cap`,
 * none when its batch is exempt), asks the store to decide them all against the send ledger and
 * record the ones allowed, and keeps the verdicts with the messages.
 *
 * Every broadcast message allowed is written to the ledger, capped or not, so a cap counts what a
 * recipient got from any batch or single send. A message allowed at its claim keeps its place: if
 * it is held (a paused batch) or its lease expires, it is claimed again and allowed again without
 * counting twice. Owns no rules: the decision is core/frequency-cap.ts, taken inside the store.
 */
import { capOfBatchOptions, type FrequencyCap, type SendRequest } from '../core/frequency-cap.js';
import { normaliseAddress } from '../core/address.js';
import type { Counter, MetricsRegistry } from '../lib/metrics.js';
import type { ClaimedMessage, Store } from '../store/store.js';

/** Why a claimed message must wait (or go): the cap it is over and when its window opens. */
export interface CapHit {
  cap: FrequencyCap;
  opensAt: string;
  /** Messages the recipient got in the window. */
  counted: number;
}

export interface FrequencyCheckOptions {
  /** The server's cap (`--frequency-cap`); null: none, batches may still set theirs. */
  cap: FrequencyCap | null;
  metrics?: MetricsRegistry | undefined;
}

/** Batches whose cap is remembered; their options do not change it once the batch exists. */
const BATCH_CACHE = 1024;

export class FrequencyCheck {
  /** Keyed by the claimed message object: an entry goes when the engine lets go of the message. */
  readonly #hits = new WeakMap<ClaimedMessage, CapHit>();
  readonly #batchCaps = new Map<string, FrequencyCap | false | null>();
  readonly #capped: Counter<'policy'> | null;

  constructor(
    private readonly store: Pick<Store, 'reserveSends' | 'getBatch'>,
    private readonly options: FrequencyCheckOptions,
  ) {
    this.#capped = options.metrics?.counter('herald_frequency_capped_total', 'Broadcast messages held back by a frequency cap, by policy', ['policy']) ?? null;
  }

  /** The batch's own cap (false: exempt; null: the server's), from its options, remembered. */
  async #batchCap(message: ClaimedMessage): Promise<FrequencyCap | false | null> {
    const batchId = message.batchId;
    if (batchId === null) return null;
    if (this.#batchCaps.has(batchId)) return this.#batchCaps.get(batchId) ?? null;
    const batch = await this.store.getBatch(message.workspaceId, batchId);
    const cap = batch === null ? null : capOfBatchOptions(batch.options);
    if (this.#batchCaps.size >= BATCH_CACHE) {
      const oldest = this.#batchCaps.keys().next();
      if (!oldest.done) this.#batchCaps.delete(oldest.value);
    }
    this.#batchCaps.set(batchId, cap);
    return cap;
  }

  /** Decides a claimed chunk's broadcast messages (but those `skip` names, e.g. suppressed ones) in one store call. */
  async load(messages: readonly ClaimedMessage[], now: Date, skip: (message: ClaimedMessage) => boolean = () => false): Promise<void> {
    const broadcast = messages.filter((message) => message.stream === 'broadcast' && !skip(message));
    if (broadcast.length === 0) return;
    const caps = new Map<ClaimedMessage, FrequencyCap | null>();
    const requests: SendRequest[] = [];
    for (const message of broadcast) {
      const own = await this.#batchCap(message);
      const cap = own === false ? null : (own ?? this.options.cap);
      caps.set(message, cap);
      requests.push({
        workspaceId: message.workspaceId,
        messageId: message.id,
        recipient: normaliseAddress(message.recipient),
        cap: cap === null ? null : { max: cap.max, perSeconds: cap.perSeconds },
      });
    }
    const verdicts = await this.store.reserveSends({ now: now.toISOString(), requests });
    for (const message of broadcast) {
      const verdict = verdicts.get(message.id);
      const cap = caps.get(message);
      if (verdict !== undefined && !verdict.allowed && cap) this.#hits.set(message, { cap, opensAt: verdict.opensAt, counted: verdict.counted });
    }
  }

  /** Why the message must not be sent now, when its recipient was over a cap at the claim; counts it. */
  take(message: ClaimedMessage): CapHit | undefined {
    const hit = this.#hits.get(message);
    if (hit !== undefined) {
      this.#hits.delete(message);
      this.#capped?.inc({ policy: hit.cap.policy });
    }
    return hit;
  }
}
