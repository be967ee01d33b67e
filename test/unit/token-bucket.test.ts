/**
 * The shared token bucket's arithmetic (core/token-bucket.ts): refill, take, give back, and the
 * held rate by which one taker's throttling slows every taker for a while.
 */
import { describe, expect, it } from 'vitest';
import { freshBucket, RATE_HOLD_MS, takeFromBucket, type BucketRate } from '../../src/core/token-bucket.js';

const FAST: BucketRate = { perSecond: 10, burst: 20 };
const SLOW: BucketRate = { perSecond: 1, burst: 20 };

describe('shared token bucket', () => {
  it('starts full, takes whole tokens, refills at the rate up to the burst, and takes back what is given', () => {
    let state = freshBucket(FAST, 0);
    let r = takeFromBucket(state, 25, FAST, 0);
    expect(r.granted).toBe(20);
    state = r.state;
    r = takeFromBucket(state, 25, FAST, 1000);
    expect(r.granted).toBe(10);
    r = takeFromBucket(r.state, -4, FAST, 1000);
    expect(takeFromBucket(r.state, 25, FAST, 1000).granted).toBe(4);
    expect(takeFromBucket(r.state, 25, FAST, 100_000).granted).toBe(20);
  });

  it('holds a lower reported rate for every taker, then lets the takers raise it again', () => {
    // A worker that was throttled reports 1/s; another still asks at 10/s.
    let state = takeFromBucket(freshBucket(FAST, 0), 20, FAST, 0).state;
    state = takeFromBucket(state, 0, SLOW, 0).state;
    const slowed = takeFromBucket(state, 100, FAST, 10_000);
    expect(slowed.granted).toBe(10); // 10 s at 1/s, not at 10/s
    // The held rate ages out a minute after it was last reported; the takers' rate applies again.
    const later = takeFromBucket(slowed.state, 100, FAST, RATE_HOLD_MS + 1);
    const recovered = takeFromBucket(later.state, 100, FAST, RATE_HOLD_MS + 1001);
    expect(recovered.granted).toBe(10); // one second at 10/s
  });

  it('a clock that steps back refills nothing', () => {
    const state = takeFromBucket(freshBucket(FAST, 5000), 20, FAST, 5000).state;
    expect(takeFromBucket(state, 5, FAST, 1000).granted).toBe(0);
  });
});
