/**
 * What a piece of feedback about a sent message does: a bounce report, a complaint report or a
 * delivery report, as the parsers in `src/feedback/` read them. Pure rules, no I/O.
 *
 * ```
 *   report                               message            event                suppression (scope all)
 *   bounce, failed, hard                 sent|delivered → bounced   message.bounced   hard_bounce, at once
 *   bounce, failed, soft                 sent|delivered → bounced   message.bounced   hard_bounce (source soft_bounces) at the Nth in the window
 *   bounce, delayed                      ignored: the reporting server is still trying
 *   complaint (abuse, fraud, virus, other)  unchanged (must be sent|delivered)   message.complained   complaint, at once
 *   complaint (not-spam, auth-failure, …)   ignored: not a complaint about the mail
 *   delivered                            sent → delivered   message.delivered    none
 * ```
 * A 5xx reply during delivery (the engine's own bounce, source `smtp`) follows the bounce rows:
 * the engine records it with the attempt, and its soft bounces count with the reported ones.
 * Automatic entries never replace a stronger one: a complaint outranks a hard bounce, and an
 * operator's `manual` entry is not rewritten by a bounce.
 */
import { HANDED_OVER, type MessageStatus } from './message-state.js';
import type { SuppressionHit, SuppressionReason } from './suppression.js';

/** The parts of a feedback fact the rules read (the facts of `src/feedback/feedback-types.ts` fit). */
export interface FeedbackFactHead {
  kind: 'bounce' | 'complaint' | 'delivered';
  action?: string;
  bounceClass?: 'hard' | 'soft';
  feedbackType?: string;
}

export type FeedbackVerdict =
  | { effect: 'bounce'; bounceClass: 'hard' | 'soft' }
  | { effect: 'complaint' }
  | { effect: 'delivered' }
  | { effect: 'ignore'; reason: string };

/** RFC 5965 feedback types that are a recipient's complaint about the mail. */
export const COMPLAINT_FEEDBACK_TYPES: ReadonlySet<string> = new Set(['abuse', 'fraud', 'virus', 'other']);

/** What one fact does. */
export function verdictForFact(fact: FeedbackFactHead): FeedbackVerdict {
  switch (fact.kind) {
    case 'bounce':
      if (fact.action !== 'failed') return { effect: 'ignore', reason: `delivery ${fact.action ?? 'delayed'}, not failed: the reporting server is still trying` };
      return { effect: 'bounce', bounceClass: fact.bounceClass ?? 'soft' };
    case 'complaint': {
      const type = fact.feedbackType ?? 'abuse';
      return COMPLAINT_FEEDBACK_TYPES.has(type) ? { effect: 'complaint' } : { effect: 'ignore', reason: `feedback type ${type.slice(0, 40)} is not a complaint` };
    }
    case 'delivered':
      return { effect: 'delivered' };
  }
}

/** The state change a verdict makes: from which statuses, to which; `to` null leaves the status as it is. */
export function transitionFor(verdict: Exclude<FeedbackVerdict, { effect: 'ignore' }>): { from: readonly MessageStatus[]; to: MessageStatus | null } {
  switch (verdict.effect) {
    case 'bounce':
      return { from: HANDED_OVER, to: 'bounced' };
    case 'complaint':
      return { from: HANDED_OVER, to: null };
    case 'delivered':
      return { from: ['sent'], to: 'delivered' };
  }
}

/** The event type a verdict writes. */
export function eventTypeFor(verdict: Exclude<FeedbackVerdict, { effect: 'ignore' }>): 'message.bounced' | 'message.complained' | 'message.delivered' {
  return verdict.effect === 'bounce' ? 'message.bounced' : verdict.effect === 'complaint' ? 'message.complained' : 'message.delivered';
}

/** The suppression source written when an address reaches the soft-bounce limit. */
export const SOFT_BOUNCE_SOURCE = 'soft_bounces';

/** The source of a bounce the engine got in the SMTP reply itself (a 5xx from the smart host or the MX), not in a later report. */
export const SMTP_BOUNCE_SOURCE = 'smtp';

/** `--soft-bounce-limit` when none is given: an address is suppressed at its third soft bounce in the window. */
export const DEFAULT_SOFT_BOUNCE_LIMIT = 3;

/** `--soft-bounce-window` when none is given, in seconds: 7 days. */
export const DEFAULT_SOFT_BOUNCE_WINDOW_SECONDS = 7 * 86400;

const RANK: Readonly<Record<SuppressionReason, number>> = { complaint: 3, hard_bounce: 2, manual: 2, unsubscribe: 0 };

/**
 * Whether an automatic entry with `reason` (scope `all`) should be written over what the address
 * already has (`existing`, its strongest entry): yes when it has none in scope `all`, or a weaker one.
 */
export function supersedes(existing: SuppressionHit | undefined, reason: SuppressionReason): boolean {
  if (existing === undefined || existing.scope !== 'all') return true;
  return RANK[reason] > RANK[existing.reason];
}

/** The start of the soft-bounce window ending at `now`. */
export function softBounceWindowStart(now: Date, windowSeconds: number): Date {
  return new Date(now.getTime() - windowSeconds * 1000);
}
