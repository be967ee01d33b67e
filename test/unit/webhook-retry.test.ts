import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  WEBHOOK_MAX_ATTEMPTS,
  WEBHOOK_RETRY_DELAYS_SECONDS,
  nextAttemptAt,
  retryDelayMs,
} from '../../src/events/webhooks/retry-schedule.js';

const failedAt = new Date('2025-01-01T00:00:00Z');
/** Seconds from the failure to the next attempt, or null when the schedule is exhausted. */
function seconds(attempt: number, random = 0.5): number | null {
  const at = nextAttemptAt(attempt, failedAt, random);
  return at === null ? null : (at.getTime() - failedAt.getTime()) / 1000;
}

describe('webhook retry schedule', () => {
  it('follows the Standard Webhooks recommendation', () => {
    expect(WEBHOOK_RETRY_DELAYS_SECONDS).toEqual([0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);
    expect(WEBHOOK_MAX_ATTEMPTS).toBe(10);
  });

  it('spans about three days from the first attempt to the last', () => {
    const totalHours = WEBHOOK_RETRY_DELAYS_SECONDS.reduce((sum, s) => sum + s, 0) / 3600;
    expect(totalHours).toBeGreaterThan(72);
    expect(totalHours).toBeLessThan(80);
  });

  it.each([
    [0, 0],
    [1, 5],
    [2, 300],
    [3, 1800],
    [4, 7200],
    [5, 18000],
    [6, 36000],
    [7, 50400],
    [8, 72000],
    [9, 86400],
  ])('after %i attempts waits %i s (no jitter at random = 0.5)', (attempt, expected) => {
    expect(seconds(attempt)).toBe(expected);
  });

  it('makes the first attempt immediately whatever the random draw', () => {
    expect(seconds(0, 0)).toBe(0);
    expect(seconds(0, 0.999)).toBe(0);
  });

  it('keeps jitter within ±10 % of every step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: WEBHOOK_MAX_ATTEMPTS - 1 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, random) => {
        const base = (WEBHOOK_RETRY_DELAYS_SECONDS[attempt] ?? 0) * 1000;
        const delay = retryDelayMs(attempt, random) ?? -1;
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.9));
        expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.1));
      }),
      { numRuns: 500 },
    );
  });

  it('reaches both ends of the jitter band', () => {
    expect(seconds(2, 0)).toBe(270);
    expect(seconds(2, 0.99999999)).toBeCloseTo(330, 0);
  });

  it('clamps random draws outside [0, 1) instead of leaving the band', () => {
    expect(seconds(1, -3)).toBe(4.5);
    expect(seconds(1, 7)).toBe(5.5);
    expect(seconds(1, Number.NaN)).toBe(5);
  });

  it('is exhausted after the last scheduled attempt', () => {
    expect(nextAttemptAt(WEBHOOK_MAX_ATTEMPTS, failedAt, 0.5)).toBeNull();
    expect(nextAttemptAt(WEBHOOK_MAX_ATTEMPTS + 5, failedAt, 0.5)).toBeNull();
  });

  it('accepts a schedule of its own', () => {
    expect(nextAttemptAt(1, failedAt, 0.5, [0, 60])?.toISOString()).toBe('2025-01-01T00:01:00.000Z');
    expect(nextAttemptAt(2, failedAt, 0.5, [0, 60])).toBeNull();
  });

  it.each([-1, 1.5, Number.NaN])('refuses attempt %s', (attempt) => {
    expect(() => nextAttemptAt(attempt, failedAt, 0.5)).toThrow(RangeError);
  });
});
