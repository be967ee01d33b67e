/**
 * The adaptive sending rate of one destination: additive increase, multiplicative decrease
 * (AIMD), the scheme TCP uses to share a link without knowing its capacity. A provider that
 * throttles says so with a deferral; Herald halves its rate, then creeps back up while the
 * provider stays quiet.
 *
 * Owns: which replies count as throttling, and the rate's state transitions. Must not: read the
 * clock (every call takes `now` in ms), keep timers, or decide admission — the traffic shaper
 * turns the rate into a token bucket.
 *
 * State machine, per destination:
 *   at limit ──throttling reply──▶ reduced (rate × 0.5, not below the floor)
 *   reduced ──throttling reply within cooldown of the last cut──▶ reduced (unchanged)
 *   reduced ──recoverEveryMs without a throttling reply──▶ rate + 10 % of limit (≤ limit)
 */
import { enhancedStatusOf } from '../../core/delivery-outcome.js';

export interface AdaptiveRateOptions {
  /** The provider's rate: where the controller starts and the ceiling it recovers to. */
  limitPerMinute: number;
  /** Lowest rate a cut may reach, so a destination is never shut off entirely. */
  floorPerMinute?: number;
  /** Replies within this long of a cut belong to the same throttling event and do not cut again. */
  cooldownMs?: number;
  /** Quiet time needed for each recovery step. */
  recoverEveryMs?: number;
}

export const ADAPTIVE_RATE_DEFAULTS = Object.freeze({
  floorPerMinute: 1,
  cooldownMs: 10_000,
  recoverEveryMs: 60_000,
  decreaseFactor: 0.5,
  /** The limit is regained in this many quiet intervals (10 % each); a division keeps steps exact. */
  recoverSteps: 10,
});

export interface AdaptiveRateState {
  readonly limitPerMinute: number;
  readonly floorPerMinute: number;
  readonly cooldownMs: number;
  readonly recoverEveryMs: number;
  readonly ratePerMinute: number;
  /** Start of the current quiet interval: the last throttling reply or the last recovery step. */
  readonly quietSince: number;
  /** When the rate was last cut; null before the first cut. */
  readonly lastCutAt: number | null;
  /** When the last throttling reply arrived, and what it said; null before the first. */
  readonly lastThrottleAt: number | null;
  readonly lastThrottleReason: string | null;
}

/**
 * Reply text that means "slow down" when the server gives no enhanced status code. "too many"
 * excludes recipients: `452 Too many recipients` asks for a new transaction, not a slower pace.
 */
export const THROTTLING_TEXT: readonly RegExp[] = [
  /rate[- ]?limit/i,
  /too many (?!recipients)/i,
  /try again later/i,
  /throttl/i,
];

/**
 * Whether a reply tells Herald to slow down for the whole destination. A 421 always does (the
 * server is shedding sessions); otherwise it must be a 4xx whose enhanced status is `4.7.x`
 * (Gmail's 4.7.28, Microsoft's 4.7.500, Yahoo's 4.7.0 [TSS04]), or, with no enhanced status,
 * whose text says so. An enhanced status in another class (451 4.3.0, 450 4.2.1 for one busy
 * mailbox) names a different cause and wins over the wording.
 */
export function isThrottlingReply(code: number, reply: string): boolean {
  if (code === 421) return true;
  if (code < 400 || code >= 500) return false;
  const enhanced = enhancedStatusOf(reply);
  if (enhanced !== null) return enhanced.startsWith('4.7.');
  return THROTTLING_TEXT.some((pattern) => pattern.test(reply));
}

/** A controller at its provider's limit, quiet since `now`. */
export function initialRate(options: AdaptiveRateOptions, now: number): AdaptiveRateState {
  const floorPerMinute = Math.min(options.limitPerMinute, options.floorPerMinute ?? ADAPTIVE_RATE_DEFAULTS.floorPerMinute);
  return {
    limitPerMinute: options.limitPerMinute,
    floorPerMinute,
    cooldownMs: options.cooldownMs ?? ADAPTIVE_RATE_DEFAULTS.cooldownMs,
    recoverEveryMs: options.recoverEveryMs ?? ADAPTIVE_RATE_DEFAULTS.recoverEveryMs,
    ratePerMinute: options.limitPerMinute,
    quietSince: now,
    lastCutAt: null,
    lastThrottleAt: null,
    lastThrottleReason: null,
  };
}

/**
 * The state at `now` with every recovery step earned since the last change applied. Steps are
 * applied lazily, so the controller needs no timer; calling it twice at the same `now` is a no-op.
 */
export function settle(state: AdaptiveRateState, now: number): AdaptiveRateState {
  const steps = Math.floor((now - state.quietSince) / state.recoverEveryMs);
  if (steps <= 0) return state;
  const step = state.limitPerMinute / ADAPTIVE_RATE_DEFAULTS.recoverSteps;
  return {
    ...state,
    ratePerMinute: Math.min(state.limitPerMinute, state.ratePerMinute + steps * step),
    quietSince: state.quietSince + steps * state.recoverEveryMs,
  };
}

/** Feeds one reply to the controller. Replies that are not throttling only let recovery proceed. */
export function observeReply(state: AdaptiveRateState, reply: { code: number; reply: string }, now: number): AdaptiveRateState {
  const settled = settle(state, now);
  if (!isThrottlingReply(reply.code, reply.reply)) return settled;
  const noted = {
    ...settled,
    // Any throttling reply restarts the quiet interval, even one that does not cut again.
    quietSince: now,
    lastThrottleAt: now,
    lastThrottleReason: reasonOf(reply),
  };
  const inCooldown = settled.lastCutAt !== null && now - settled.lastCutAt < settled.cooldownMs;
  if (inCooldown) return noted;
  return {
    ...noted,
    ratePerMinute: Math.max(settled.floorPerMinute, settled.ratePerMinute * ADAPTIVE_RATE_DEFAULTS.decreaseFactor),
    lastCutAt: now,
  };
}

/**
 * When the rate will be back at the limit if no further throttling reply arrives, or null when
 * it is there already. Shown to operators as "throttled until".
 */
export function recoveredAt(state: AdaptiveRateState): number | null {
  const missing = state.limitPerMinute - state.ratePerMinute;
  if (missing <= 0) return null;
  const steps = Math.ceil((missing * ADAPTIVE_RATE_DEFAULTS.recoverSteps) / state.limitPerMinute - 1e-9);
  return state.quietSince + steps * state.recoverEveryMs;
}

const MAX_REASON_LENGTH = 200;

function reasonOf(reply: { code: number; reply: string }): string {
  // Multi-line replies repeat the code on each line; one line is enough for an operator.
  const text = reply.reply.replace(/\s*\r?\n\s*/g, ' ').trim();
  const withCode = /^\d{3}[ -]/.test(text) ? text : `${reply.code} ${text}`;
  return withCode.length > MAX_REASON_LENGTH ? `${withCode.slice(0, MAX_REASON_LENGTH - 1)}…` : withCode;
}
