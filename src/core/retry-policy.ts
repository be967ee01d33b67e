/**
 * When to try a deferred message again. Exponential backoff with full jitter between half and
 * the whole of the step, so that a burst of deferrals from one destination does not come back as
 * one burst. Pure: the random draw is passed in.
 */
export interface RetryPolicy {
  /** Delay before the first retry, in seconds. */
  baseSeconds: number;
  /** Longest delay between two attempts, in seconds. */
  maxDelaySeconds: number;
  /** A message still not delivered this long after acceptance fails for good, in seconds. */
  maxAgeSeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  baseSeconds: 60,
  maxDelaySeconds: 3600,
  maxAgeSeconds: 24 * 3600,
});

/**
 * Seconds to wait after the `attempt`-th failed attempt (1 = the first).
 * `random` is a number in [0, 1).
 */
export function retryDelaySeconds(policy: RetryPolicy, attempt: number, random: number): number {
  const step = Math.min(policy.maxDelaySeconds, policy.baseSeconds * 2 ** Math.max(0, attempt - 1));
  return step / 2 + (step / 2) * random;
}

/**
 * The time of the next attempt, or null when the message has run out of time and must fail.
 * A retry that would land past the expiry is moved to the expiry itself, so every message gets
 * one last attempt at its maximum age rather than failing early.
 */
export function nextAttemptAt(
  policy: RetryPolicy,
  attempt: number,
  now: Date,
  expiresAt: Date,
  random: number,
): Date | null {
  if (now.getTime() >= expiresAt.getTime()) return null;
  const next = now.getTime() + retryDelaySeconds(policy, attempt, random) * 1000;
  return new Date(Math.min(next, expiresAt.getTime()));
}
