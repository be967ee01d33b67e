/**
 * The rules of the workspace suppression list: which reasons exist, which scope each may have,
 * and which scopes hold back which mail stream. Pure data and functions, no I/O.
 *
 * ```
 *   reason        scope                     blocks
 *   hard_bounce   all                       transactional and broadcast
 *   complaint     all                       transactional and broadcast
 *   unsubscribe   broadcast                 broadcast only
 *   manual        all (default) | broadcast as chosen
 * ```
 * An address may have one entry per scope; an `all` entry outranks a `broadcast` one.
 */
import type { Stream } from './types.js';

export const SUPPRESSION_REASONS = ['hard_bounce', 'complaint', 'unsubscribe', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export const SUPPRESSION_SCOPES = ['all', 'broadcast'] as const;
export type SuppressionScope = (typeof SUPPRESSION_SCOPES)[number];

/** Why an address is held back, as a check reports it. */
export interface SuppressionHit {
  reason: SuppressionReason;
  scope: SuppressionScope;
}

/** The scope each reason takes when none is given, and the scopes it may take at all. */
const SCOPE_RULES: Record<SuppressionReason, { fallback: SuppressionScope; allowed: readonly SuppressionScope[] }> = {
  hard_bounce: { fallback: 'all', allowed: ['all'] },
  complaint: { fallback: 'all', allowed: ['all'] },
  unsubscribe: { fallback: 'broadcast', allowed: ['broadcast'] },
  manual: { fallback: 'all', allowed: ['all', 'broadcast'] },
};

export function isSuppressionReason(value: unknown): value is SuppressionReason {
  return typeof value === 'string' && (SUPPRESSION_REASONS as readonly string[]).includes(value);
}

export function isSuppressionScope(value: unknown): value is SuppressionScope {
  return typeof value === 'string' && (SUPPRESSION_SCOPES as readonly string[]).includes(value);
}

/**
 * The scope an entry gets: `requested` when the reason allows it, the reason's default when
 * nothing was requested; `null` when the reason does not allow the requested scope.
 *
 * @example
 * scopeFor('unsubscribe') // 'broadcast'
 * scopeFor('manual', 'broadcast') // 'broadcast'
 * scopeFor('complaint', 'broadcast') // null: a complaint blocks every stream
 */
export function scopeFor(reason: SuppressionReason, requested?: SuppressionScope): SuppressionScope | null {
  const rule = SCOPE_RULES[reason];
  if (requested === undefined) return rule.fallback;
  return rule.allowed.includes(requested) ? requested : null;
}

/** The scopes whose entries hold back mail of `stream`. */
export function scopesBlocking(stream: Stream): readonly SuppressionScope[] {
  return stream === 'broadcast' ? SUPPRESSION_SCOPES : ['all'];
}

/** Of two entries for one address, the one that says more (an `all` entry outranks a `broadcast` one). */
export function strongerHit(current: SuppressionHit | undefined, next: SuppressionHit): SuppressionHit {
  return current === undefined || (current.scope !== 'all' && next.scope === 'all') ? next : current;
}
