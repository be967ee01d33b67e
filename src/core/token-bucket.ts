/**
 * The token bucket shared by every process through the store (`Store.takeTokens`): batch rate caps
 * and per-destination shaping budgets that must hold across all workers, not per process. Pure:
 * the stores keep the state and call this under a row lock.
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
}

/** A bucket seen for the first time starts full. */
export function freshBucket(rate: BucketRate, now: number): BucketState {
  return { tokens: rate.burst, refilledAt: now };
}

/**
 * Refills for the time since the last take, then takes up to `want` whole tokens (a negative
 * `want` gives that many back, up to the burst). A clock that steps back refills nothing.
 */
export function takeFromBucket(state: BucketState, want: number, rate: BucketRate, now: number): { granted: number; state: BucketState } {
  const elapsed = Math.max(0, now - state.refilledAt);
  const refilled = Math.min(rate.burst, state.tokens + (elapsed / 1000) * rate.perSecond);
  const granted = want >= 0 ? Math.max(0, Math.min(want, Math.floor(refilled + 1e-9))) : want;
  return { granted, state: { tokens: Math.min(rate.burst, refilled - granted), refilledAt: Math.max(state.refilledAt, now) } };
}
