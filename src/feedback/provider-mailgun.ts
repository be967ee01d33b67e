/**
 * Mailgun webhooks: `{signature, "event-data": {event, recipient, severity, reason,
 * "delivery-status", message: {headers: {"message-id"}}}}` for `failed` (severity permanent |
 * temporary), `complained` and `delivered`. Shapes: shared/reference/provider-apis.md §3.
 *
 * Owns: the Mailgun event shapes. Must not: verify the HMAC signature (the route does), or throw.
 */
import { effectiveStatus, providerBounceClass } from './bounce-class.js';
import { addressIn } from './field-blocks.js';
import { clip, normaliseMessageId, refuse } from './feedback-limits.js';
import type { FeedbackFact, ParseResult } from './feedback-types.js';
import { isRecord, record, text, type JsonRecord } from './json-fields.js';

/**
 * Permanent-failure reasons that say nothing about the address: ⚠ `old` (gave up after retries)
 * as Mailgun's event docs describe it; every other reason falls back to hard.
 */
const SOFT_PERMANENT_REASONS: ReadonlySet<string> = new Set(['old', 'espblock']);

export function mailgunFeedback(body: unknown): ParseResult {
  if (!isRecord(body)) return refuse('Mailgun body is not a JSON object');
  // The webhook wraps the event in `event-data`; the Events API returns it bare.
  const event = record(body, 'event-data') ?? (text(body, 'event') !== null && record(body, 'message') !== null ? body : null);
  if (event === null) return refuse('Mailgun body has no event-data object');
  const name = text(event, 'event');
  if (name === null) return refuse('Mailgun event-data has no event');
  const recipient = addressIn(text(event, 'recipient'));
  if (recipient === null) return refuse(`Mailgun ${name.slice(0, 40)} event has no valid recipient`);
  // Mailgun's message-id header is the send response's `id` without its angle brackets.
  const messageId = normaliseMessageId(text(record(record(event, 'message'), 'headers'), 'message-id'));
  const ids = { originalMessageId: messageId, ...(messageId === null ? {} : { providerMessageId: messageId }) };
  const fact = eventFact(name, event, recipient, ids);
  return typeof fact === 'string' ? refuse(fact) : { ok: true, facts: [fact], format: 'mailgun' };
}

function eventFact(name: string, event: JsonRecord, recipient: string, ids: { originalMessageId: string | null; providerMessageId?: string }): FeedbackFact | string {
  switch (name) {
    case 'delivered':
      return { kind: 'delivered', recipient, ...ids };
    case 'complained':
      return { kind: 'complaint', recipient, feedbackType: 'abuse', userAgent: null, originalRecipient: null, arrivalDate: null, ...ids };
    case 'failed':
      return failureFact(event, recipient, ids);
    default:
      return `Mailgun ${name.slice(0, 40)} event carries no bounce, complaint or delivery`;
  }
}

function failureFact(event: JsonRecord, recipient: string, ids: { originalMessageId: string | null; providerMessageId?: string }): FeedbackFact | string {
  const severity = text(event, 'severity');
  if (severity !== 'permanent' && severity !== 'temporary') return 'Mailgun failed event without severity permanent|temporary';
  const status = record(event, 'delivery-status');
  // ⚠ `enhanced-code` and `mx-host` appear in Mailgun's sample payloads but not in the reference sheet.
  const diagnostic = clip([text(status, 'code'), text(status, 'message'), text(status, 'description')].filter((part) => part !== null && part !== '').join(' '));
  const enhanced = effectiveStatus(text(status, 'enhanced-code'), diagnostic);
  const reason = text(event, 'reason') ?? '';
  const temporary = severity === 'temporary';
  return {
    kind: 'bounce',
    recipient,
    bounceClass: temporary ? 'soft' : providerBounceClass(enhanced, diagnostic ?? '', SOFT_PERMANENT_REASONS.has(reason) ? 'soft' : 'hard'),
    status: enhanced,
    // A temporary failure is retried by Mailgun: for Herald it is a delay.
    action: temporary ? 'delayed' : 'failed',
    diagnostic: diagnostic ?? clip(reason),
    remoteMta: clip(text(status, 'mx-host')),
    reportingMta: null,
    ...ids,
  };
}
