/**
 * Opens a raw report message and hands back the parts the report parsers read: the
 * machine-readable part (`message/delivery-status` or `message/feedback-report`), the returned
 * original message's headers, and the human-readable text (for plain-text bounces).
 *
 * mailparser walks the MIME tree. By default it folds `message/delivery-status` into the text
 * body, so it runs with `keepDeliveryStatus` to keep that part separate, and with
 * `ignoreEmbedded` so a returned message stays one attachment instead of being parsed as mail.
 *
 * Owns: the size check, MIME walking, part selection, decoding part bytes without throwing.
 * Must not: interpret fields (dsn.ts, arf.ts do), or let a parser error escape.
 */
import { simpleParser, type Attachment, type SimpleParserOptions } from 'mailparser';
import { decodeText, oversize, refuse } from './feedback-limits.js';
import type { Refusal } from './feedback-types.js';
import { isRecord, record, text } from './json-fields.js';

export interface ReportParts {
  /** Top-level content type, lower-cased (`multipart/report`, `text/plain`, …). */
  contentType: string;
  /** The `report-type` parameter, lower-cased, or null when the message has none. */
  reportType: string | null;
  /** Text of the first `message/delivery-status` (or RFC 6533 `message/global-delivery-status`) part. */
  deliveryStatus: string | null;
  /** Text of the first `message/feedback-report` part. */
  feedbackReport: string | null;
  /** The returned original message (or just its headers), when the report includes it. */
  original: string | null;
  /** The human-readable text body. */
  text: string;
  subject: string | null;
}

const OPTIONS: SimpleParserOptions = {
  keepDeliveryStatus: true,
  ignoreEmbedded: true,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipImageLinks: true,
  checksumAlgo: false,
  maxHtmlLengthToParse: 1024 * 1024,
  maxChildNodes: 200,
};

const DELIVERY_STATUS = new Set(['message/delivery-status', 'message/global-delivery-status']);
const ORIGINAL = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers', 'message/partial']);

/** Parses `raw` as a message; `ok:false` when it is too large, empty, or not parseable as MIME. */
export async function readReport(raw: unknown): Promise<{ ok: true; parts: ReportParts } | Refusal> {
  if (typeof raw !== 'string' && !Buffer.isBuffer(raw)) return refuse('report must be a Buffer or a string');
  const tooLarge = oversize(raw);
  if (tooLarge) return tooLarge;
  if (raw.length === 0) return refuse('report is empty');
  let mail;
  try {
    mail = await simpleParser(raw, OPTIONS);
  } catch (error) {
    return refuse(`report is not a parseable message: ${error instanceof Error ? error.message : String(error)}`);
  }
  const header: unknown = mail.headers.get('content-type');
  const contentType = isRecord(header) ? text(header, 'value') : null;
  const reportType = isRecord(header) ? text(record(header, 'params'), 'report-type') : null;
  const find = (types: ReadonlySet<string>): Attachment | undefined =>
    mail.attachments.find((part) => types.has(part.contentType.toLowerCase()));
  const decoded = (part: Attachment | undefined): string | null => (part ? decodeText(part.content) : null);
  return {
    ok: true,
    parts: {
      contentType: (contentType ?? 'text/plain').toLowerCase(),
      reportType: reportType === null ? null : reportType.trim().toLowerCase(),
      deliveryStatus: decoded(find(DELIVERY_STATUS)),
      feedbackReport: decoded(find(new Set(['message/feedback-report']))),
      original: decoded(find(ORIGINAL)),
      text: typeof mail.text === 'string' ? mail.text : '',
      subject: typeof mail.subject === 'string' ? mail.subject : null,
    },
  };
}
