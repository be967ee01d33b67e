/**
 * The token bucket shared by every process through the store (`Store.takeTokens`): batch rate caps
 * and per-destination shaping budgets that must hold across all workers, not per process. Pure:
 * the stores keep the state and call this under a row lock.
 *
 * Each taker says the rate it wants the bucket to refill at. Takers of a batch cap all say the
 * same; shaping takers say their own adaptive rate, which drops when a provider throttles them.
 * A lower rate is held for everyone for `RATE_HOLD_MS` after it was last reported, so one
 * worker's 421 slows the whole deployment down, not only itself; after that the rate follows the
 * takers again.
 */

export interface BucketRate {
  /** Tokens added per second. */
  perSecond: number;
  /** The most the bucket holds: how far sends may bunch up. */
  burst: number;
}

export interface BucketState {
  tokens: number;
  /** When `tokens` was last brought up to date, ms since the epoch. */
  refilledAt: number;
  /** The lowest rate a taker reported lately, and when: in force for everyone until it ages out. */
  heldPerSecond: number | null;
  heldAt: number | null;
}

/** How long a lower reported rate stays in force for every taker. */
export const RATE_HOLD_MS = 60_000;

/** A bucket seen for the first time starts full. */
export function freshBucket(rate: BucketRate, now: number): BucketState {
  return { tokens: rate.burst, refilledAt: now, heldPerSecond: rate.perSecond, heldAt: now };
}

/** The held rate while it is in force; null once it has aged out (or there is none). */
function heldRate(state: BucketState, now: number): number | null {
  if (state.heldPerSecond === null || state.heldAt === null) return null;
  return now - state.heldAt < RATE_HOLD_MS ? state.heldPerSecond : null;
}

/**
 * Refills for the time since the last take at the rate in force (the lower of the taker's and
 * the held one), then takes up to `want` whole tokens (a negative `want` gives that many back, up
 * to the burst). A clock that steps back refills nothing.
 */
export function takeFromBucket(state: BucketState, want: number, rate: BucketRate, now: number): { granted: number; state: BucketState } {
  const held = heldRate(state, now);
  const perSecond = held === null ? rate.perSecond : Math.min(held, rate.perSecond);
  const elapsed = Math.max(0, now - state.refilledAt);
  const refilled = Math.min(rate.burst, state.tokens + (elapsed / 1000) * perSecond);
  const granted = want >= 0 ? Math.max(0, Math.min(want, Math.floor(refilled + 1e-9))) : want;
  // A lower rate (or none in force) is reported now; a higher one waits until the held one ages out.
  const report = held === null || rate.perSecond < held;
  return {
    granted,
    state: {
      tokens: Math.min(rate.burst, refilled - granted),
      refilledAt: Math.max(state.refilledAt, now),
      heldPerSecond: report ? rate.perSecond : state.heldPerSecond,
      heldAt: report ? now : state.heldAt,
    },
  };
}
