/**
 * Postmark webhooks, keyed on `RecordType`: `Bounce` (with a bounce `Type`), `SpamComplaint`
 * and `Delivery`. Shapes: shared/reference/provider-apis.md §2.
 *
 * Owns: the Postmark shapes and the bounce-type table. Must not: authenticate the request
 * (Postmark does not sign; the route checks its Basic credentials), or throw.
 */
import { effectiveStatus } from './bounce-class.js';
import { addressIn, stripType } from './field-blocks.js';
import { clip, refuse } from './feedback-limits.js';
import type { BounceClass, FeedbackFact, ParseResult } from './feedback-types.js';
import { isRecord, text, type JsonRecord } from './json-fields.js';

/**
 * Postmark bounce `Type` → class. Types not listed (AutoResponder, AddressChange, Subscribe,
 * Unsubscribe, OpenRelayTest, ChallengeVerification, ManuallyDeactivated, Unconfirmed,
 * InboundError, SMTPApiError, TemplateRenderingFailed) are not a remote delivery failure and are
 * refused. ⚠ DnsError, SpamNotification, VirusNotification, Blocked and DMARCPolicy as soft follow
 * Postmark's descriptions (temporary DNS trouble, content or policy rejections), not a table of theirs.
 */
const BOUNCE_TYPES: Readonly<Record<string, BounceClass>> = {
  HardBounce: 'hard',
  BadEmailAddress: 'hard',
  SoftBounce: 'soft',
  Transient: 'soft',
  DnsError: 'soft',
  Blocked: 'soft',
  DMARCPolicy: 'soft',
  SpamNotification: 'soft',
  VirusNotification: 'soft',
  Unknown: 'soft',
};

export function postmarkFeedback(body: unknown): ParseResult {
  if (!isRecord(body)) return refuse('Postmark body is not a JSON object');
  // Bounce webhooks from before RecordType existed carry only Type/TypeCode.
  const recordType = text(body, 'RecordType') ?? (text(body, 'TypeCode') !== null ? 'Bounce' : null);
  if (recordType === null) return refuse('Postmark body has no RecordType');
  const providerMessageId = clip(text(body, 'MessageID'));
  const ids = { originalMessageId: null, ...(providerMessageId === null ? {} : { providerMessageId }) };
  const fact = recordFact(recordType, body, ids);
  return typeof fact === 'string' ? refuse(fact) : { ok: true, facts: [fact], format: 'postmark' };
}

function recordFact(recordType: string, body: JsonRecord, ids: { originalMessageId: null; providerMessageId?: string }): FeedbackFact | string {
  switch (recordType) {
    case 'Delivery': {
      const recipient = addressIn(text(body, 'Recipient'));
      return recipient === null ? 'Postmark Delivery without a valid Recipient' : { kind: 'delivered', recipient, ...ids };
    }
    case 'SpamComplaint': {
      const recipient = addressIn(text(body, 'Email'));
      if (recipient === null && ids.providerMessageId === undefined) return 'Postmark SpamComplaint names neither Email nor MessageID';
      return { kind: 'complaint', recipient, feedbackType: 'abuse', userAgent: null, originalRecipient: null, arrivalDate: null, ...ids };
    }
    case 'Bounce':
      return bounceFact(body, ids);
    default:
      return `Postmark ${recordType.slice(0, 40)} record carries no bounce, complaint or delivery`;
  }
}

function bounceFact(body: JsonRecord, ids: { originalMessageId: null; providerMessageId?: string }): FeedbackFact | string {
  const recipient = addressIn(text(body, 'Email'));
  if (recipient === null) return 'Postmark Bounce without a valid Email';
  const type = text(body, 'Type') ?? 'missing';
  if (type === 'SpamComplaint') {
    return { kind: 'complaint', recipient, feedbackType: 'abuse', userAgent: null, originalRecipient: null, arrivalDate: null, ...ids };
  }
  const bounceClass = BOUNCE_TYPES[type];
  if (bounceClass === undefined) return `Postmark bounce type ${type.slice(0, 40)} is not a delivery failure`;
  const diagnostic = clip(stripType(text(body, 'Details') ?? '')) ?? clip(text(body, 'Description'));
  return {
    kind: 'bounce',
    recipient,
    bounceClass,
    status: effectiveStatus(null, diagnostic),
    action: 'failed',
    diagnostic,
    remoteMta: null,
    reportingMta: null,
    ...ids,
  };
}
