/**
 * Decides the enhanced status and the hard/soft class of one reported failure, with the shared
 * policy in `core/delivery-outcome.ts` (its status table and text patterns); this file only
 * decides which code a report really means.
 *
 * Owns: finding enhanced codes in report text, choosing between the Status field and the quoted
 * reply. Must not: hold its own hard/soft table (add to delivery-outcome.ts instead).
 */
import { classifyReportedBounce, isGenericStatus } from '../core/delivery-outcome.js';
import { MAX_FIELD_CHARS } from './feedback-limits.js';
import type { BounceClass } from './feedback-types.js';

/** An enhanced code right after a reply code: `550 5.1.1`, `550-5.1.1`, `554 #5.1.1`. */
const AFTER_REPLY_CODE = /\b[245]\d\d[ -]#?([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;
/** Any enhanced code that is not part of a longer dotted number such as an IP address. */
const STANDALONE = /(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;

/** The enhanced status code in a Status field or reply text, or null. */
export function statusIn(text: string | null): string | null {
  if (text === null) return null;
  const head = text.slice(0, MAX_FIELD_CHARS);
  const match = AFTER_REPLY_CODE.exec(head) ?? STANDALONE.exec(head);
  return match?.[1] ?? null;
}

/**
 * The code a report means: the Status field unless it is generic (`5.0.0`) and the quoted reply
 * carries a specific code of the same class, as Exim and many appliances report it.
 */
export function effectiveStatus(statusField: string | null, diagnostic: string | null): string | null {
  const reported = statusIn(statusField);
  const quoted = statusIn(diagnostic);
  if (reported !== null && !isGenericStatus(reported)) return reported;
  if (quoted !== null && !isGenericStatus(quoted) && (reported === null || reported[0] === quoted[0])) return quoted;
  return reported ?? quoted;
}

/** Hard or soft for a failed recipient; a delay is always soft. */
export function bounceClassOf(action: string, status: string | null, diagnostic: string | null): BounceClass {
  if (action !== 'failed') return 'soft';
  return classifyReportedBounce(status, diagnostic ?? '');
}

/**
 * Hard or soft for a provider event that is per attempt rather than per address (SendGrid
 * `bounce`, Mailgun `permanent`): a specific status code or a "no such user" text decides with
 * the shared rules, otherwise the provider's own word (`fallback`) stands.
 */
export function providerBounceClass(status: string | null, text: string, fallback: BounceClass): BounceClass {
  if (status !== null && !isGenericStatus(status)) return classifyReportedBounce(status, text);
  return classifyReportedBounce(null, text) === 'hard' ? 'hard' : fallback;
}
