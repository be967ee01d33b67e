/**
 * RFC 3464 delivery status notifications (`multipart/report; report-type=delivery-status`) into
 * bounce and delivery facts, one per recipient block. A message that is not a multipart report
 * goes to the plain-text heuristics (classic Exim and qmail bounces).
 *
 * Owns: the per-message and per-recipient fields of a DSN, and turning each recipient into a fact.
 * Must not: decide hard/soft itself (bounce-class.ts and core/delivery-outcome.ts do), or do I/O.
 */
import { bounceClassOf, effectiveStatus } from './bounce-class.js';
import { addressIn, fieldValue, mtaName, parseFieldBlocks, stripType, type FieldBlock } from './field-blocks.js';
import { clip, MAX_RECIPIENTS, normaliseMessageId, refuse, refuseError } from './feedback-limits.js';
import type { BounceFact, FeedbackFact, ParseResult } from './feedback-types.js';
import { plainBounceFacts } from './plain-bounce.js';
import { readReport, type ReportParts } from './report-mime.js';
import { readReturnedMessage } from './returned-message.js';

type DsnAction = BounceFact['action'];
const ACTIONS: ReadonlySet<string> = new Set<DsnAction>(['failed', 'delayed', 'delivered', 'relayed', 'expanded']);
const RECIPIENT_FIELDS: ReadonlySet<string> = new Set(['final-recipient', 'original-recipient']);

/**
 * Reads a DSN (or a plain-text bounce) from a raw message.
 *
 * @example
 * const result = await parseDsn(rawMessage);
 * if (result.ok) for (const fact of result.facts) if (fact.kind === 'bounce' && fact.bounceClass === 'hard') suppress(fact.recipient);
 */
export async function parseDsn(raw: Buffer | string): Promise<ParseResult> {
  try {
    const read = await readReport(raw);
    return read.ok ? dsnFromParts(read.parts) : read;
  } catch (error) {
    return refuseError('report', error);
  }
}

/** The DSN facts in an already opened report. */
export function dsnFromParts(parts: ReportParts): ParseResult {
  if (parts.reportType !== null && parts.reportType !== 'delivery-status') {
    return refuse(`report-type ${parts.reportType.slice(0, 60)} is not a delivery status notification`);
  }
  if (parts.deliveryStatus === null) {
    if (parts.contentType === 'multipart/report') return refuse('delivery report has no message/delivery-status part (truncated?)');
    return plainBounceFacts(parts);
  }
  return deliveryStatusFacts(parts.deliveryStatus, parts.original);
}

/** The facts in the text of a `message/delivery-status` part. */
export function deliveryStatusFacts(deliveryStatus: string, original: string | null): ParseResult {
  // One per-message block, then at most MAX_RECIPIENTS recipient blocks.
  const { blocks, overflow } = parseFieldBlocks(deliveryStatus, MAX_RECIPIENTS + 1);
  if (overflow) return refuse(`delivery report lists more than ${MAX_RECIPIENTS} recipients`);
  const perMessage: FieldBlock = [];
  const recipients: FieldBlock[] = [];
  for (const block of blocks) {
    if (block.some((field) => RECIPIENT_FIELDS.has(field.name))) recipients.push(...splitRecipients(block));
    else if (recipients.length === 0) perMessage.push(...block);
    if (recipients.length > MAX_RECIPIENTS) break;
  }
  if (recipients.length === 0) return refuse('delivery report has no recipient block (no Final-Recipient)');
  if (recipients.length > MAX_RECIPIENTS) return refuse(`delivery report lists more than ${MAX_RECIPIENTS} recipients`);

  const returned = readReturnedMessage(original);
  const context: MessageContext = {
    reportingMta: mtaName(fieldValue(perMessage, 'reporting-mta')),
    // Exchange / Office 365 name the bounced message in the per-message block as well.
    originalMessageId: returned.messageId ?? normaliseMessageId(fieldValue(perMessage, 'x-original-message-id')),
  };
  const facts: FeedbackFact[] = [];
  const skipped: string[] = [];
  for (const [index, block] of recipients.entries()) {
    const fact = recipientFact(block, context);
    if (typeof fact === 'string') skipped.push(`recipient ${index + 1}: ${fact}`);
    else facts.push(fact);
  }
  if (facts.length === 0) return refuse(`delivery report has no usable recipient (${skipped.slice(0, 3).join('; ')})`);
  return { ok: true, facts, format: 'dsn' };
}

interface MessageContext {
  reportingMta: string | null;
  originalMessageId: string | null;
}

/** One recipient block's fact, or why it was skipped. */
function recipientFact(block: FieldBlock, context: MessageContext): FeedbackFact | string {
  const finalRecipient = fieldValue(block, 'final-recipient');
  const recipient = addressIn(finalRecipient) ?? addressIn(fieldValue(block, 'original-recipient'));
  if (recipient === null) return finalRecipient === null ? 'no Final-Recipient' : 'Final-Recipient is not an address';
  const diagnostic = clip(stripType(fieldValue(block, 'diagnostic-code') ?? ''));
  const status = effectiveStatus(fieldValue(block, 'status'), diagnostic);
  const action = actionOf(fieldValue(block, 'action'), status);
  if (action === null) return 'no Action, and no Status to infer one from';
  if (action === 'delivered' || action === 'relayed' || action === 'expanded') {
    return { kind: 'delivered', recipient, originalMessageId: context.originalMessageId };
  }
  return {
    kind: 'bounce',
    recipient,
    bounceClass: bounceClassOf(action, status, diagnostic),
    status,
    action,
    diagnostic,
    remoteMta: mtaName(fieldValue(block, 'remote-mta')),
    reportingMta: context.reportingMta,
    originalMessageId: context.originalMessageId,
  };
}

/** The Action field; when a broken MTA leaves it out, the Status class stands in for it. */
function actionOf(field: string | null, status: string | null): DsnAction | null {
  const word = field?.trim().split(/[\s(;]/)[0]?.toLowerCase() ?? '';
  if (ACTIONS.has(word)) return word as DsnAction;
  if (status?.startsWith('5')) return 'failed';
  if (status?.startsWith('4')) return 'delayed';
  if (status?.startsWith('2')) return 'delivered';
  return null;
}

/** Some MTAs leave out the blank line between recipients: start a new block at each new recipient. */
function splitRecipients(block: FieldBlock): FieldBlock[] {
  const groups: FieldBlock[] = [];
  let current: FieldBlock = [];
  for (const field of block) {
    const repeats =
      (field.name === 'final-recipient' && current.some((f) => f.name === 'final-recipient')) ||
      (field.name === 'original-recipient' && current.some((f) => RECIPIENT_FIELDS.has(f.name)));
    if (repeats) {
      groups.push(current);
      current = [];
    }
    current.push(field);
  }
  groups.push(current);
  return groups;
}
