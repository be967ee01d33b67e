/**
 * When to attempt a webhook delivery again after a failure.
 *
 * The schedule is data: the Standard Webhooks recommendation quoted in
 * shared/reference/provider-apis.md §5 — immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 14 h, 20 h and 24 h. That is 10 attempts spread over about 75.6 h (~3.2 days), which is the
 * "up to ~3 days" the webhooks issue asks for, so the reference list is used as is rather than a
 * home-made one. Each delay is measured from the failed attempt and moved by up to ±10 % so that
 * a receiver that was down for everyone is not hit by every endpoint's retries in one burst.
 *
 * Owns: the delays and the jitter. Must not: read the clock, draw randomness (both are passed in),
 * or decide *whether* a failure is retryable (a 410 disables the endpoint; that is the dispatcher's).
 */

const SECOND = 1;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Delay before each attempt, in seconds, measured from the previous attempt. Entry `n` is the
 * delay before attempt `n + 1`; entry 0 is the first attempt, made as soon as the event exists.
 */
export const WEBHOOK_RETRY_DELAYS_SECONDS: readonly number[] = Object.freeze([
  0,
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
]);

/** Attempts made in all before a message is given up on. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_SECONDS.length;

/** How far each delay may move either way, as a fraction of the delay. */
export const WEBHOOK_RETRY_JITTER = 0.1;

/**
 * The delay before the attempt that follows `attempt` attempts already made, in milliseconds, or
 * null when the schedule is exhausted. `random` is a number in [0, 1); 0.5 gives the exact delay.
 */
export function retryDelayMs(
  attempt: number,
  random: number,
  delaysSeconds: readonly number[] = WEBHOOK_RETRY_DELAYS_SECONDS,
): number | null {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
  }
  const base = delaysSeconds[attempt];
  if (base === undefined) return null;
  const unit = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0.5;
  const factor = 1 - WEBHOOK_RETRY_JITTER + 2 * WEBHOOK_RETRY_JITTER * unit;
  return Math.round(base * 1000 * factor);
}

/**
 * When to make the next attempt, given how many attempts were already made (0 before the first,
 * 1 after the first failure, …) and the time of the last one; null when none are left.
 *
 * @example
 * nextAttemptAt(1, failedAt, Math.random()) // failedAt + 5 s ± 0.5 s
 * nextAttemptAt(WEBHOOK_MAX_ATTEMPTS, failedAt, Math.random()) // null: give up
 */
export function nextAttemptAt(
  attempt: number,
  now: Date,
  random: number,
  delaysSeconds: readonly number[] = WEBHOOK_RETRY_DELAYS_SECONDS,
): Date | null {
  const delay = retryDelayMs(attempt, random, delaysSeconds);
  return delay === null ? null : new Date(now.getTime() + delay);
}
