/**
 * Amazon SES feedback: the SNS envelope (`Type: Notification`, JSON `Message` string) or the bare
 * notification, with `notificationType` (identity notifications) or `eventType` (configuration
 * set event publishing) of Bounce, Complaint, Delivery or DeliveryDelay.
 * Shapes: shared/reference/provider-apis.md §4.
 *
 * Owns: the SES shapes. Must not: verify the SNS signature or confirm subscriptions (the route
 * does both before calling this), or throw.
 */
import { effectiveStatus } from './bounce-class.js';
import { addressIn, mtaName, stripType } from './field-blocks.js';
import { clip, MAX_RECIPIENTS, normaliseMessageId, refuse } from './feedback-limits.js';
import type { BounceClass, FeedbackFact, ParseResult } from './feedback-types.js';
import { isRecord, jsonBody, list, record, text, type JsonRecord } from './json-fields.js';

/** SES has already decided per address: Permanent means it will not send there again. */
const BOUNCE_CLASS: Readonly<Record<string, BounceClass>> = { Permanent: 'hard', Transient: 'soft', Undetermined: 'soft' };

interface Ids {
  originalMessageId: string | null;
  providerMessageId?: string;
}

export function sesFeedback(body: unknown): ParseResult {
  if (!isRecord(body)) return refuse('SES body is not a JSON object');
  let notification: JsonRecord = body;
  const envelopeType = text(body, 'Type');
  if (envelopeType !== null) {
    if (envelopeType !== 'Notification') return refuse(`SNS ${envelopeType.slice(0, 40)} message carries no feedback`);
    const inner = jsonBody(text(body, 'Message'), 'SNS Message');
    if (!inner.ok) return inner;
    if (!isRecord(inner.value)) return refuse('SNS Message is not a JSON object');
    notification = inner.value;
  }
  const type = text(notification, 'notificationType') ?? text(notification, 'eventType');
  if (type === null) return refuse('SES notification has neither notificationType nor eventType');
  const ids = idsOf(record(notification, 'mail'));
  switch (type) {
    case 'Bounce':
      return bounceFacts(record(notification, 'bounce'), ids);
    case 'DeliveryDelay':
      return delayFacts(record(notification, 'deliveryDelay'), ids);
    case 'Complaint':
      return complaintFacts(record(notification, 'complaint'), ids);
    case 'Delivery':
      return deliveryFacts(record(notification, 'delivery'), ids);
    default:
      return refuse(`SES ${type.slice(0, 40)} notification carries no bounce, complaint or delivery`);
  }
}

function bounceFacts(bounce: JsonRecord | null, ids: Ids): ParseResult {
  if (bounce === null) return refuse('SES Bounce notification without a bounce object');
  const recipients = recipientList(bounce, 'bouncedRecipients');
  if (typeof recipients === 'string') return refuse(recipients);
  const bounceType = text(bounce, 'bounceType') ?? 'Undetermined';
  const bounceClass = BOUNCE_CLASS[bounceType] ?? 'soft';
  const subType = text(bounce, 'bounceSubType');
  const facts = recipients.map(({ recipient, entry }): FeedbackFact => {
    const diagnostic = clip(stripType(text(entry, 'diagnosticCode') ?? '')) ?? clip(`SES ${bounceType}${subType ? `/${subType}` : ''}`);
    return {
      kind: 'bounce',
      recipient,
      bounceClass,
      status: effectiveStatus(text(entry, 'status'), diagnostic),
      action: text(entry, 'action') === 'delayed' ? 'delayed' : 'failed',
      diagnostic,
      remoteMta: clip(text(bounce, 'remoteMtaIp')),
      reportingMta: mtaName(text(bounce, 'reportingMTA')),
      ...ids,
    };
  });
  return { ok: true, facts, format: 'ses' };
}

/** Event publishing's DeliveryDelay (⚠ field names from the SES event-publishing docs as remembered). */
function delayFacts(delay: JsonRecord | null, ids: Ids): ParseResult {
  if (delay === null) return refuse('SES DeliveryDelay notification without a deliveryDelay object');
  const recipients = recipientList(delay, 'delayedRecipients');
  if (typeof recipients === 'string') return refuse(recipients);
  const facts = recipients.map(({ recipient, entry }): FeedbackFact => {
    const diagnostic = clip(stripType(text(entry, 'diagnosticCode') ?? '')) ?? clip(text(delay, 'delayType'));
    return {
      kind: 'bounce',
      recipient,
      bounceClass: 'soft',
      status: effectiveStatus(text(entry, 'status'), diagnostic),
      action: 'delayed',
      diagnostic,
      remoteMta: null,
      reportingMta: mtaName(text(delay, 'reportingMTA')),
      ...ids,
    };
  });
  return { ok: true, facts, format: 'ses' };
}

function complaintFacts(complaint: JsonRecord | null, ids: Ids): ParseResult {
  if (complaint === null) return refuse('SES Complaint notification without a complaint object');
  const recipients = recipientList(complaint, 'complainedRecipients');
  if (typeof recipients === 'string') return refuse(recipients);
  const facts = recipients.map(({ recipient }): FeedbackFact => ({
    kind: 'complaint',
    recipient,
    // SES leaves complaintFeedbackType out when the ISP's report had none; SES only forwards spam
    // reports, so `abuse` is what such a report means.
    feedbackType: clip(text(complaint, 'complaintFeedbackType'))?.toLowerCase() ?? 'abuse',
    userAgent: clip(text(complaint, 'userAgent')),
    originalRecipient: null,
    arrivalDate: clip(text(complaint, 'arrivalDate')),
    ...ids,
  }));
  return { ok: true, facts, format: 'ses' };
}

function deliveryFacts(delivery: JsonRecord | null, ids: Ids): ParseResult {
  if (delivery === null) return refuse('SES Delivery notification without a delivery object');
  const recipients = list(delivery, 'recipients');
  if (recipients === null) return refuse('SES delivery has no recipients list');
  if (recipients.length > MAX_RECIPIENTS) return refuse(`SES delivery lists more than ${MAX_RECIPIENTS} recipients`);
  const facts = recipients
    .map((value) => addressIn(typeof value === 'string' ? value : null))
    .filter((recipient): recipient is string => recipient !== null)
    .map((recipient): FeedbackFact => ({ kind: 'delivered', recipient, ...ids }));
  return facts.length > 0 ? { ok: true, facts, format: 'ses' } : refuse('SES delivery has no valid recipient address');
}

/** The `{emailAddress, …}` entries of a recipients list, or why there are none. */
function recipientList(source: JsonRecord, key: string): { recipient: string; entry: JsonRecord }[] | string {
  const entries = list(source, key);
  if (entries === null) return `SES notification has no ${key} list`;
  if (entries.length > MAX_RECIPIENTS) return `SES notification lists more than ${MAX_RECIPIENTS} recipients`;
  const read = entries.flatMap((entry) => {
    const recipient = isRecord(entry) ? addressIn(text(entry, 'emailAddress')) : null;
    return recipient !== null && isRecord(entry) ? [{ recipient, entry }] : [];
  });
  return read.length > 0 ? read : `SES ${key} has no valid emailAddress`;
}

/** SES's own id, and the Message-ID header when SES included the headers (⚠ `commonHeaders.messageId` holds the header value in AWS's examples). */
function idsOf(mail: JsonRecord | null): Ids {
  const common = record(mail, 'commonHeaders');
  const header = (list(mail, 'headers') ?? []).find(
    (entry): entry is JsonRecord => isRecord(entry) && text(entry, 'name')?.toLowerCase() === 'message-id',
  );
  const providerMessageId = clip(text(mail, 'messageId'));
  return {
    originalMessageId: normaliseMessageId(text(common, 'messageId') ?? text(header ?? null, 'value')),
    ...(providerMessageId === null ? {} : { providerMessageId }),
  };
}
