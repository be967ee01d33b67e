/**
 * Per-key request rate limit: a token bucket per API key, refilled continuously at `perSecond`
 * with room for bursts of twice that. In-process state: each API process limits on its own.
 * Keys whose bucket has refilled are forgotten once many keys are held (a full bucket and no
 * bucket are the same), so keys from the public (client addresses) cannot grow it without bound.
 */
export interface RateLimiter {
  readonly perSecond: number;
  /** Takes one token for `key`; returns 0 when allowed, else the seconds to wait. */
  take(key: string): number;
}

/** Keys held before the first sweep of refilled buckets; after a sweep, twice the keys left. */
const SWEEP_AT = 10_000;

export function createRateLimiter(perSecond: number, now: () => number = Date.now): RateLimiter {
  if (perSecond <= 0) return { perSecond, take: () => 0 };
  const capacity = perSecond * 2;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let sweepAt = SWEEP_AT;
  const sweep = (t: number) => {
    for (const [key, bucket] of buckets) if (bucket.tokens + ((t - bucket.at) / 1000) * perSecond >= capacity) buckets.delete(key);
  };
  return {
    perSecond,
    take(key: string): number {
      const t = now();
      if (buckets.size >= sweepAt) {
        sweep(t);
        sweepAt = Math.max(SWEEP_AT, buckets.size * 2);
      }
      const bucket = buckets.get(key) ?? { tokens: capacity, at: t };
      bucket.tokens = Math.min(capacity, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
      bucket.at = t;
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    },
  };
}
