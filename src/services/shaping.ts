/**
 * Traffic-shaping state for operators: what each destination provider is allowed now, and why
 * it was slowed. It is the delivering process's own state (not the store's), so a process that
 * does not deliver (`--role api`) or does not shape (capture, relay) reports no destinations.
 */
import type { Store } from '../store/store.js';
import type { SharedBudget, ShapingRow } from '../transports/shaping/traffic-shaper.js';
import type { Principal } from './deps.js';
import { requireScope } from './keys.js';

export interface ShapingSource {
  snapshot(): ShapingRow[];
}

export interface ShapingState {
  /** Whether this process shapes its deliveries (the `mx` transport does). */
  shaping: boolean;
  destinations: ShapingRow[];
}

export function shapingState(principal: Principal, source: ShapingSource | null): ShapingState {
  requireScope(principal, 'read');
  return { shaping: source !== null, destinations: source?.snapshot() ?? [] };
}

/**
 * The shaping budget every worker pays from: one token bucket per destination in the store
 * (`shape:<destination>`), so a provider's messages-per-minute hold across the deployment.
 */
export function sharedShapingBudget(store: Store, now: () => number = Date.now): SharedBudget {
  return {
    take: (destination, want, rate) => store.takeTokens(`shape:${destination}`, want, { perSecond: rate.perMinute / 60, burst: rate.burst }, now()),
  };
}
