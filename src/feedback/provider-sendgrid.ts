/**
 * SendGrid Event Webhook: a JSON array of events (`bounce` with type bounce|blocked, `dropped`,
 * `deferred`, `delivered`, `spamreport`; engagement events are skipped). Shapes:
 * shared/reference/provider-apis.md §1.
 *
 * Owns: the SendGrid event shapes. Must not: verify the ECDSA signature (the route does), or throw.
 */
import { effectiveStatus, providerBounceClass } from './bounce-class.js';
import { addressIn } from './field-blocks.js';
import { clip, MAX_EVENTS, normaliseMessageId, refuse } from './feedback-limits.js';
import type { FeedbackFact, ParseResult } from './feedback-types.js';
import { isRecord, text, type JsonRecord } from './json-fields.js';

/** `dropped` reasons meaning SendGrid already knows the address is bad (⚠ wording from SendGrid's docs, not a closed list). */
const DROPPED_HARD = /bounced address|invalid/i;

export function sendgridFeedback(body: unknown): ParseResult {
  const events = Array.isArray(body) ? body : isRecord(body) ? [body] : null;
  if (events === null) return refuse('SendGrid body is not an array of events');
  if (events.length > MAX_EVENTS) return refuse(`SendGrid batch holds more than ${MAX_EVENTS} events`);
  const facts: FeedbackFact[] = [];
  for (const event of events) {
    const fact = isRecord(event) ? eventFact(event) : null;
    if (fact !== null) facts.push(fact);
  }
  if (facts.length === 0) return refuse(`SendGrid batch of ${events.length} events has no bounce, complaint or delivery with a valid email`);
  return { ok: true, facts, format: 'sendgrid' };
}

function eventFact(event: JsonRecord): FeedbackFact | null {
  const recipient = addressIn(text(event, 'email'));
  if (recipient === null) return null;
  // sg_message_id is `<X-Message-Id>.<filter id>`; ⚠ the prefix being the send response's
  // X-Message-Id is inferred (provider-apis.md §1), not documented.
  const sgMessageId = clip(text(event, 'sg_message_id')?.split('.')[0]);
  const ids = {
    originalMessageId: normaliseMessageId(text(event, 'smtp-id')),
    ...(sgMessageId === null ? {} : { providerMessageId: sgMessageId }),
  };
  const reason = clip(text(event, 'reason') ?? text(event, 'response'));
  const bounce = (action: 'failed' | 'delayed', bounceClass: 'hard' | 'soft', diagnostic: string | null): FeedbackFact => ({
    kind: 'bounce',
    recipient,
    bounceClass,
    status: effectiveStatus(text(event, 'status'), diagnostic),
    action,
    diagnostic,
    remoteMta: null,
    reportingMta: null,
    ...ids,
  });
  switch (text(event, 'event')) {
    case 'bounce': {
      if (text(event, 'type') === 'blocked') return bounce('failed', 'soft', reason);
      const status = effectiveStatus(text(event, 'status'), reason);
      return bounce('failed', providerBounceClass(status, reason ?? '', 'hard'), reason);
    }
    case 'dropped':
      return bounce('failed', DROPPED_HARD.test(reason ?? '') ? 'hard' : 'soft', clip(`dropped: ${reason ?? 'no reason given'}`));
    case 'deferred':
      return bounce('delayed', 'soft', reason);
    case 'delivered':
      return { kind: 'delivered', recipient, ...ids };
    case 'spamreport':
      return {
        kind: 'complaint',
        recipient,
        feedbackType: 'abuse',
        userAgent: null,
        originalRecipient: null,
        arrivalDate: null, // the event's timestamp is when the report came, not when the message arrived
        ...ids,
      };
    default:
      return null; // processed, open, click, unsubscribe, …: not feedback
  }
}
