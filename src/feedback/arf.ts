/**
 * RFC 5965 feedback reports (`multipart/report; report-type=feedback-report`), the format of
 * mailbox providers' complaint feedback loops (Yahoo, AOL, Microsoft JMRP, …), into complaint facts.
 *
 * Owns: the `message/feedback-report` fields and who complained about which message. Must not:
 * decide what a complaint does to the recipient (the caller's suppression policy), or do I/O.
 */
import { addressIn, fieldValue, fieldValues, parseFieldBlocks, type FieldBlock } from './field-blocks.js';
import { clip, MAX_RECIPIENTS, refuse, refuseError } from './feedback-limits.js';
import type { ComplaintFact, ParseResult } from './feedback-types.js';
import { readReport, type ReportParts } from './report-mime.js';
import { readReturnedMessage, unredacted } from './returned-message.js';

/**
 * Reads a feedback (complaint) report from a raw message.
 *
 * @example
 * const result = await parseArf(rawMessage);
 * if (result.ok) for (const fact of result.facts) if (fact.kind === 'complaint') recordComplaint(fact);
 */
export async function parseArf(raw: Buffer | string): Promise<ParseResult> {
  try {
    const read = await readReport(raw);
    return read.ok ? arfFromParts(read.parts) : read;
  } catch (error) {
    return refuseError('report', error);
  }
}

/** The complaint facts in an already opened report. */
export function arfFromParts(parts: ReportParts): ParseResult {
  if (parts.reportType !== 'feedback-report' && !(parts.reportType === null && parts.feedbackReport !== null)) {
    return refuse(`report-type ${(parts.reportType ?? 'none').slice(0, 60)} is not a feedback report`);
  }
  if (parts.feedbackReport === null) return refuse('feedback report has no message/feedback-report part (truncated?)');
  // The report is one block; generators that add blank lines inside it are read as one anyway.
  const report: FieldBlock = parseFieldBlocks(parts.feedbackReport, 20).blocks.flat();
  const feedbackType = /^[A-Za-z0-9_-]+/.exec(fieldValue(report, 'feedback-type') ?? '')?.[0]?.toLowerCase();
  if (feedbackType === undefined) return refuse('feedback report has no Feedback-Type');

  const returned = readReturnedMessage(parts.original);
  const base = {
    kind: 'complaint' as const,
    feedbackType: feedbackType.slice(0, 64),
    userAgent: clip(fieldValue(report, 'user-agent')),
    originalMessageId: returned.messageId,
    // Yahoo writes Received-Date where RFC 5965 says Arrival-Date.
    arrivalDate: clip(fieldValue(report, 'arrival-date') ?? fieldValue(report, 'received-date')),
  };
  const fallbackRecipient = returned.hotmailRecipient ?? returned.to;
  const rcptTo = fieldValues(report, 'original-rcpt-to');
  if (rcptTo.length > MAX_RECIPIENTS) return refuse(`feedback report lists more than ${MAX_RECIPIENTS} recipients`);

  const facts: ComplaintFact[] =
    rcptTo.length === 0
      ? [{ ...base, recipient: fallbackRecipient, originalRecipient: null }]
      : rcptTo.map((value) => ({
          ...base,
          recipient: unredacted(addressIn(value)) ?? (rcptTo.length === 1 ? fallbackRecipient : null),
          originalRecipient: clip(value),
        }));
  if (facts.every((fact) => fact.recipient === null) && base.originalMessageId === null) {
    return refuse('feedback report names neither the complaining recipient nor the original message');
  }
  return { ok: true, facts, format: 'arf' };
}
