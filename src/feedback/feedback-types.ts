/**
 * The canonical facts Herald reads out of bounce reports, complaint reports and provider
 * webhooks. Every parser in `src/feedback/` returns a `ParseResult` of these; the caller (the
 * bounce listener, the `/v1/feedback/*` routes) matches them to its own messages and stores them.
 *
 * Owns: the shapes only. Must not: hold parsing logic, or anything that does I/O.
 */

export type BounceClass = 'hard' | 'soft';

/** One recipient's failure (or delay) as reported by a DSN, a plain-text bounce or a provider. */
export interface BounceFact {
  kind: 'bounce';
  recipient: string;
  /** `hard`: the address will never work, suppress it. `soft`: it may work later. Delays are always soft. */
  bounceClass: BounceClass;
  /**
   * The enhanced status (`5.1.1`) the class was decided from: the report's Status field, or the
   * more specific code in the quoted remote reply when the Status field is generic (`5.0.0`).
   */
  status: string | null;
  action: 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
  /** The remote server's reply or the reporter's explanation, without its `smtp;` type prefix. */
  diagnostic: string | null;
  remoteMta: string | null;
  reportingMta: string | null;
  /** Message-ID of the message that bounced (angle brackets included), from the returned headers. */
  originalMessageId: string | null;
  /** The provider's own id of the message (SES `mail.messageId`, Postmark `MessageID`, …). */
  providerMessageId?: string;
}

/** One feedback-loop complaint (RFC 5965 ARF, or a provider's spam-report event). */
export interface ComplaintFact {
  kind: 'complaint';
  /** The complaining address, when the report still names it (many redact it). */
  recipient: string | null;
  /** RFC 5965 Feedback-Type: abuse, fraud, virus, other, not-spam, auth-failure, … */
  feedbackType: string;
  userAgent: string | null;
  originalMessageId: string | null;
  /** The report's `Original-Rcpt-To` field, as written; null when the report has none. */
  originalRecipient: string | null;
  arrivalDate: string | null;
  providerMessageId?: string;
}

/** A positive delivery notice (DSN action delivered/relayed/expanded, or a provider's delivery event). */
export interface DeliveryFact {
  kind: 'delivered';
  recipient: string;
  originalMessageId: string | null;
  providerMessageId?: string;
}

export type FeedbackFact = BounceFact | ComplaintFact | DeliveryFact;

/**
 * `format` names what was read: `dsn`, `arf`, `heuristic:exim`, `heuristic:qmail` (plain-text
 * bounces read by pattern, less certain), `ses`, `sendgrid`, `mailgun`, `postmark`.
 */
export type ParseResult =
  | { ok: true; facts: FeedbackFact[]; format: string }
  | Refusal;

/** Why an input was ignored, for the log. */
export interface Refusal {
  ok: false;
  reason: string;
}

/** The providers whose webhooks `parseProviderFeedback` reads. */
export type FeedbackProvider = 'ses' | 'sendgrid' | 'mailgun' | 'postmark';
