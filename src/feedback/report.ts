/**
 * The entry point for reports that arrive as mail on the bounce domain: opens the message once
 * and hands it to the DSN reader, the ARF reader or the plain-text bounce heuristics according
 * to its `report-type`.
 *
 * Owns: the dispatch and the refusal of everything else. Must not: throw, or do I/O.
 */
import { arfFromParts } from './arf.js';
import { dsnFromParts } from './dsn.js';
import { refuse, refuseError } from './feedback-limits.js';
import type { ParseResult } from './feedback-types.js';
import { plainBounceFacts } from './plain-bounce.js';
import { readReport, type ReportParts } from './report-mime.js';
import { envelopeSendersIn } from './report-senders.js';

/**
 * Reads a bounce or complaint report from a raw message. Never throws: anything that is not a
 * readable report comes back as `{ ok: false, reason }` for the log.
 *
 * @example
 * const result = await parseReport(rawMessage);
 * if (!result.ok) log.info({ reason: result.reason }, 'ignored inbound report');
 */
export async function parseReport(raw: Buffer | string): Promise<ParseResult> {
  return (await readInboundReport(raw)).result;
}

/** A report as the bounce listener reads it: the facts, and the envelope senders it quotes (report-senders.ts). */
export interface InboundReport {
  result: ParseResult;
  envelopeSenders: string[];
}

/** `parseReport`, plus the envelope senders the report quotes, from one reading of the message. Never throws. */
export async function readInboundReport(raw: Buffer | string): Promise<InboundReport> {
  try {
    const read = await readReport(raw);
    if (!read.ok) return { result: read, envelopeSenders: [] };
    return { result: factsOf(read.parts), envelopeSenders: envelopeSendersIn(read.parts) };
  } catch (error) {
    // The readers are written not to throw; this keeps a bug in one from reaching the listener.
    return { result: refuseError('report', error), envelopeSenders: [] };
  }
}

function factsOf(parts: ReportParts): ParseResult {
  if (parts.reportType === 'delivery-status' || (parts.reportType === null && parts.deliveryStatus !== null)) return dsnFromParts(parts);
  if (parts.reportType === 'feedback-report' || (parts.reportType === null && parts.feedbackReport !== null)) return arfFromParts(parts);
  if (parts.reportType !== null) return refuse(`report-type ${parts.reportType.slice(0, 60)} is not handled`);
  if (parts.contentType === 'multipart/report') return refuse('multipart/report without a report-type or a report part');
  return plainBounceFacts(parts);
}
