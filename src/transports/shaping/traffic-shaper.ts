/**
 * Traffic shaping per destination for the direct-to-MX transport. A destination is an MX
 * provider (every Google-hosted domain shares one budget) or, for hosts no provider claims, the
 * MX host itself. Each destination gets a cap on concurrent sends and a token bucket refilled at
 * its adaptive rate; the result of every send feeds that rate back.
 *
 * Owns: per-destination admission state, its bookkeeping for `GET /v1/shaping`, and forgetting
 * idle destinations. Must not: open connections, resolve MX hosts, sleep or schedule timers —
 * a refused admission says how long to wait and the caller decides what to do with that. The
 * clock is injected (`now`).
 *
 * With a `shared` budget (several workers), sends are paid for from a bucket every worker shares
 * (kept in the store): each shaper asks it for about a second's worth at its current adaptive
 * rate and admits only against what it was granted, so a provider's limit holds for the whole
 * deployment, not per process; a rate cut after throttling is reported with the next request
 * and slows every worker for a minute (core/token-bucket.ts). Connection caps stay per process.
 */
import { HeraldError } from '../../core/errors.js';
import { type AdaptiveRateState, initialRate, observeReply, recoveredAt, settle } from './adaptive-rate.js';
import { type DestinationLimits, defaultLimitsOf, isProviderId, normalizeMxHost, providerOf } from './provider-limits.js';

export type { DestinationLimits } from './provider-limits.js';

/** Sends a destination may make, from a budget every worker shares (services/shaping.ts). */
export interface SharedBudget {
  /** Grants up to `want` sends now (a negative `want` gives back), refilled at `perMinute` up to `burst`. */
  take(destination: string, want: number, rate: { perMinute: number; burst: number }): Promise<number>;
}

/** How far ahead a shaper asks the shared budget: about this long at its current rate. */
const PREFETCH_MS = 1_000;

export interface ShapingOptions {
  /** Pay for sends from a budget shared with other workers; default: this process's own bucket. */
  shared?: SharedBudget;
  /**
   * Limits replacing the built-in ones, keyed by provider id (`google`, `default`, …) or, for
   * a destination no provider claims, by its MX host (applied over `default`'s).
   */
  overrides?: Record<string, Partial<DestinationLimits>>;
  /** Clock in ms; `Date.now` unless a test injects one. */
  now?: () => number;
}

/** What a send ended with: the reply code (0 when no reply came) and its text. */
export interface SendResult {
  code: number;
  reply: string;
}

/** Why an admission was refused: the destination's rate, or all its connections busy. */
export type RefusalReason = 'rate' | 'connections';

export type Admission =
  | { ok: true; release: (result: SendResult) => void }
  | { ok: false; retryAfterMs: number; reason: RefusalReason };

/** One destination's state as `GET /v1/shaping` shows it. Times are ISO 8601 strings. */
export interface ShapingRow {
  destination: string;
  provider: string;
  limits: DestinationLimits;
  /** The adaptive rate now: the limit's `messagesPerMinute`, or less after throttling. */
  ratePerMinute: number;
  inFlight: number;
  sentLastMinute: number;
  deferredLastMinute: number;
  /** When the rate will be back at the limit if the provider stays quiet; null when it is. */
  throttledUntil: string | null;
  lastThrottleAt: string | null;
  lastThrottleReason: string | null;
}

/** Destinations untouched this long are dropped; longer than full recovery, so nothing is lost. */
const IDLE_FORGET_MS = 60 * 60_000;
/** Admissions scan for idle destinations at most this often, to keep `admit` O(1) on average. */
const SWEEP_EVERY_MS = 60_000;
const WINDOW_MS = 60_000;
/** The bucket holds this many seconds' worth of the rate, so sends may bunch up a little. */
const BURST_SECONDS = 5;
/** When every connection is busy the wait depends on a send finishing, so the caller polls. */
const BUSY_RETRY_MS = 1_000;

/** Slack for floating-point refills: 999 ms + 1 ms at 1 token/s must make a whole token. */
const EPSILON = 1e-6;

const LIMIT_KEYS = ['maxConnections', 'messagesPerConnection', 'messagesPerMinute'] as const;

interface DestinationState {
  readonly destination: string;
  readonly provider: string;
  readonly limits: DestinationLimits;
  rate: AdaptiveRateState;
  tokens: number;
  tokensAt: number;
  inFlight: number;
  lastActiveAt: number;
  /** With a shared budget: sends granted and not yet used, and whether a request is under way. */
  granted: number;
  asking: boolean;
  /** Times of 2xx replies and of deferrals (4xx or no reply) within the last minute. */
  readonly sentAt: number[];
  readonly deferredAt: number[];
}

/**
 * @example
 * const shaper = new TrafficShaper({ overrides: { google: { maxConnections: 20 } } });
 * const admission = shaper.admit(shaper.destinationOf('aspmx.l.google.com'));
 * if (admission.ok) {
 *   const reply = await send();
 *   admission.release({ code: reply.code, reply: reply.text });
 * } else {
 *   requeueIn(admission.retryAfterMs);
 * }
 */
export class TrafficShaper {
  private readonly overrides: Readonly<Record<string, Readonly<Partial<DestinationLimits>>>>;
  private readonly now: () => number;
  private readonly destinations = new Map<string, DestinationState>();
  private lastSweepAt = Number.NEGATIVE_INFINITY;
  private readonly shared: SharedBudget | undefined;

  constructor(options: ShapingOptions = {}) {
    this.overrides = copyOverrides(options.overrides ?? {});
    this.now = options.now ?? Date.now;
    this.shared = options.shared;
  }

  /** Destination key for an MX host: the provider id, or for `default` the MX host itself (so unrelated small domains do not share one budget). */
  destinationOf(mxHost: string): string {
    const provider = providerOf(mxHost);
    return provider === 'default' ? normalizeMxHost(mxHost) : provider;
  }

  /** The limits in force for a destination: built-in defaults with overrides applied. */
  limitsOf(destination: string): DestinationLimits {
    const provider = providerFor(destination);
    const own = destination === provider ? {} : this.overrides[destination];
    return Object.freeze({ ...defaultLimitsOf(provider), ...this.overrides[provider], ...own });
  }

  /**
   * Takes a send slot for the destination if its rate (token bucket refilled at the adaptive
   * per-minute rate, burst = max(1, rate/60 × 5)) and its in-flight cap (concurrent sends ≤
   * maxConnections) allow it; otherwise says how long to wait. `release` must be called once
   * with the send's result; it feeds the adaptive rate. Later calls are ignored.
   */
  admit(destination: string): Admission {
    const now = this.now();
    if (now - this.lastSweepAt >= SWEEP_EVERY_MS) this.sweep(now);
    const state = this.stateOf(destination, now);
    refill(state, now);
    state.lastActiveAt = now;
    const tokenWaitMs = hasToken(state) ? 0 : Math.max(1, Math.ceil((1 - state.tokens) / perMs(state) - EPSILON));
    if (state.inFlight >= state.limits.maxConnections) {
      return { ok: false, retryAfterMs: Math.max(tokenWaitMs, BUSY_RETRY_MS), reason: 'connections' };
    }
    if (this.shared) {
      if (state.granted < 1) {
        this.ask(state);
        return { ok: false, retryAfterMs: Math.max(50, Math.ceil(60_000 / state.rate.ratePerMinute)), reason: 'rate' };
      }
      state.granted -= 1;
      if (state.granted < prefetchOf(state) / 2) this.ask(state);
    } else {
      if (tokenWaitMs > 0) return { ok: false, retryAfterMs: tokenWaitMs, reason: 'rate' };
      state.tokens = Math.max(0, state.tokens - 1);
    }
    state.inFlight += 1;
    let released = false;
    return {
      ok: true,
      release: (result) => {
        if (released) return;
        released = true;
        this.release(state, result);
      },
    };
  }

  /** Asks the shared budget for about a second's worth of sends at the destination's current rate. */
  private ask(state: DestinationState): void {
    const shared = this.shared;
    if (!shared || state.asking) return;
    const want = Math.ceil(prefetchOf(state) - state.granted);
    if (want <= 0) return;
    state.asking = true;
    shared
      .take(state.destination, want, { perMinute: state.rate.ratePerMinute, burst: burstOf(state.rate.ratePerMinute) })
      .then(
        (granted) => {
          state.granted += granted;
        },
        () => undefined, // the budget did not answer: nothing granted, asked again on the next admission
      )
      .finally(() => {
        state.asking = false;
      });
  }

  /** One row per destination seen (and not yet forgotten), sorted by destination. */
  snapshot(): ShapingRow[] {
    const now = this.now();
    this.sweep(now);
    return [...this.destinations.values()]
      .sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0))
      .map((state) => {
        refill(state, now);
        const until = recoveredAt(state.rate);
        return {
          destination: state.destination,
          provider: state.provider,
          limits: { ...state.limits },
          ratePerMinute: Math.round(state.rate.ratePerMinute * 100) / 100,
          inFlight: state.inFlight,
          sentLastMinute: state.sentAt.length,
          deferredLastMinute: state.deferredAt.length,
          throttledUntil: isoOrNull(until),
          lastThrottleAt: isoOrNull(state.rate.lastThrottleAt),
          lastThrottleReason: state.rate.lastThrottleReason,
        };
      });
  }

  private release(state: DestinationState, result: SendResult): void {
    const now = this.now();
    state.inFlight = Math.max(0, state.inFlight - 1);
    state.lastActiveAt = now;
    refill(state, now);
    state.rate = observeReply(state.rate, result, now);
    // A cut shrinks the bucket too, so the tokens saved up at the old rate are not spent at once.
    state.tokens = Math.min(state.tokens, burstOf(state.rate.ratePerMinute));
    if (result.code >= 200 && result.code < 300) state.sentAt.push(now);
    else if (result.code < 500 || result.code >= 600) state.deferredAt.push(now);
    pruneWindow(state, now);
  }

  private stateOf(destination: string, now: number): DestinationState {
    const known = this.destinations.get(destination);
    if (known) return known;
    const limits = this.limitsOf(destination);
    const state: DestinationState = {
      destination,
      provider: providerFor(destination),
      limits,
      rate: initialRate({ limitPerMinute: limits.messagesPerMinute }, now),
      tokens: burstOf(limits.messagesPerMinute),
      tokensAt: now,
      inFlight: 0,
      lastActiveAt: now,
      granted: 0,
      asking: false,
      sentAt: [],
      deferredAt: [],
    };
    this.destinations.set(destination, state);
    return state;
  }

  /** Drops idle destinations; one with a send in flight is never idle, so its release stays valid. */
  private sweep(now: number): void {
    this.lastSweepAt = now;
    for (const [destination, state] of this.destinations) {
      pruneWindow(state, now);
      if (state.inFlight === 0 && now - state.lastActiveAt >= IDLE_FORGET_MS) this.destinations.delete(destination);
    }
  }
}

/** The provider a destination key belongs to: itself if it is a provider id, else `default`. */
function providerFor(destination: string): string {
  return isProviderId(destination) ? destination : 'default';
}

function burstOf(ratePerMinute: number): number {
  return Math.max(1, (ratePerMinute / 60) * BURST_SECONDS);
}

function prefetchOf(state: DestinationState): number {
  return Math.max(1, (state.rate.ratePerMinute / 60_000) * PREFETCH_MS);
}

function hasToken(state: DestinationState): boolean {
  return state.tokens + EPSILON >= 1;
}

function perMs(state: DestinationState): number {
  return state.rate.ratePerMinute / 60_000;
}

/** Brings the adaptive rate and the bucket up to `now`; a no-op when called twice at one instant. */
function refill(state: DestinationState, now: number): void {
  state.rate = settle(state.rate, now);
  const elapsed = Math.max(0, now - state.tokensAt);
  state.tokens = Math.min(burstOf(state.rate.ratePerMinute), state.tokens + elapsed * perMs(state));
  state.tokensAt = Math.max(state.tokensAt, now);
}

function pruneWindow(state: DestinationState, now: number): void {
  for (const times of [state.sentAt, state.deferredAt]) {
    const firstInWindow = times.findIndex((at) => now - at < WINDOW_MS);
    times.splice(0, firstInWindow === -1 ? times.length : firstInWindow);
  }
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Validates and freezes the overrides so a later change to the caller's object has no effect. */
function copyOverrides(
  overrides: Record<string, Partial<DestinationLimits>>,
): Readonly<Record<string, Readonly<Partial<DestinationLimits>>>> {
  const copy: Record<string, Readonly<Partial<DestinationLimits>>> = {};
  for (const [key, limits] of Object.entries(overrides)) {
    const id = isProviderId(key) ? key : normalizeMxHost(key);
    const entry: Partial<DestinationLimits> = {};
    for (const [name, value] of Object.entries(limits)) {
      const field = `shaping.overrides.${key}.${name}`;
      if (!(LIMIT_KEYS as readonly string[]).includes(name)) {
        throw new HeraldError('invalid_config', { field, reason: `unknown limit; expected one of ${LIMIT_KEYS.join(', ')}` });
      }
      if (value === undefined) continue;
      const integral = name !== 'messagesPerMinute';
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integral && !Number.isInteger(value))) {
        throw new HeraldError('invalid_config', { field, reason: integral ? 'must be a positive integer' : 'must be a positive number' });
      }
      entry[name as keyof DestinationLimits] = value;
    }
    copy[id] = Object.freeze(entry);
  }
  return Object.freeze(copy);
}
