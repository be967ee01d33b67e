/**
 * The envelope senders a report quotes from the message it is about: the feedback report's
 * `Original-Mail-From` (RFC 5965 §3.2) and the returned message's `Return-Path` (added at final
 * delivery). For mail Herald sent with a VERP return path, either one names the message with a
 * signed token, which attributes a report that came to an address other than that return path
 * (a feedback loop's fixed address).
 *
 * Owns: finding those two fields. Must not: verify tokens (the caller holds the key), or trust
 * anything else in the returned message.
 */
import { addressIn, fieldValue, parseFieldBlocks, parseHeaderBlock } from './field-blocks.js';
import type { ReportParts } from './report-mime.js';

/** Bare addresses, de-duplicated, feedback report first; empty when the report quotes none. */
export function envelopeSendersIn(parts: Pick<ReportParts, 'feedbackReport' | 'original'>): string[] {
  const found: (string | null)[] = [];
  if (parts.feedbackReport !== null) {
    const report = parseFieldBlocks(parts.feedbackReport, 20).blocks.flat();
    found.push(addressIn(fieldValue(report, 'original-mail-from')));
  }
  if (parts.original !== null) found.push(addressIn(fieldValue(parseHeaderBlock(parts.original), 'return-path')));
  return [...new Set(found.filter((address): address is string => address !== null))];
}
