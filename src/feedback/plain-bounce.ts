/**
 * Plain-text bounces that are not RFC 3464 reports: the classic Exim form ("This message was
 * created automatically by mail delivery software") and qmail's ("This is the qmail-send
 * program"). Read by pattern, so every result says `heuristic:` in its format.
 *
 * Owns: recognising those two forms and cutting them into recipient + reply text. Must not:
 * guess at unknown forms (anything else is refused), or decide hard/soft (bounce-class.ts does).
 */
import { bounceClassOf, effectiveStatus } from './bounce-class.js';
import { addressIn } from './field-blocks.js';
import { clip, MAX_FIELD_CHARS, MAX_RECIPIENTS, refuse } from './feedback-limits.js';
import type { BounceFact, ParseResult } from './feedback-types.js';
import type { ReportParts } from './report-mime.js';
import { readReturnedMessage } from './returned-message.js';

interface Form {
  name: 'exim' | 'qmail';
  /** Recognises the form from its fixed wording. */
  marker: RegExp;
  /** The end of the line after which the recipient list starts (no leading `.*`: it would backtrack on long lines). */
  listStart: RegExp;
  /** The line that starts the returned copy of the message (everything after it is the original). */
  copyStart: RegExp;
  /** A line that starts one recipient's entry; group 1 is the address. */
  recipientLine: RegExp;
  reportingMta: RegExp;
}

const FORMS: readonly Form[] = [
  {
    name: 'exim',
    marker: /This message was created automatically by mail delivery software/i,
    listStart: /(address\(es\) failed|addresses? failed|not yet been delivered (is|are))[ \t]*:?[ \t]*$/im,
    copyStart: /^-{3,}\s*This is a copy of the message[^\n]*$/im,
    recipientLine: /^ {1,3}<?([^\s<>]+@[^\s<>]+?)>?\s*$/,
    reportingMta: /on the queue on (\S+?)\.?\s*$/im,
  },
  {
    name: 'qmail',
    marker: /This is the qmail-send program|I'm afraid I wasn't able to deliver your message/i,
    listStart: /(Sorry it didn't work out|following addresses)\.?[ \t]*$/im,
    copyStart: /^-{2,}\s*(Below this line is a copy of the message|Enclosed are the original headers)[^\n]*$/im,
    recipientLine: /^<([^\s<>]+@[^\s<>]+)>:\s*$/,
    reportingMta: /qmail-send program at (\S+?)\.?\s*$/im,
  },
];

/** The facts in a plain-text bounce of a known form, or why it was not read. */
export function plainBounceFacts(parts: ReportParts): ParseResult {
  const text = parts.text;
  const form = FORMS.find((candidate) => candidate.marker.test(text));
  if (form === undefined) return refuse(`not a delivery report: ${parts.contentType.slice(0, 60)} without a known plain-text bounce form`);
  const copy = form.copyStart.exec(text);
  const body = copy ? text.slice(0, copy.index) : text;
  const list = form.listStart.exec(body);
  if (list === null) return refuse(`plain-text ${form.name} bounce without its list of addresses`);
  const entries = recipientEntries(body.slice(list.index + list[0].length), form.recipientLine);
  if (entries.length > MAX_RECIPIENTS) return refuse(`plain-text bounce lists more than ${MAX_RECIPIENTS} recipients`);
  if (entries.length === 0) return refuse(`plain-text ${form.name} bounce without a recipient address`);

  const delayed = form.name === 'exim' && /has not yet been delivered/i.test(body);
  const returned = readReturnedMessage(parts.original ?? (copy ? text.slice(copy.index + copy[0].length) : null));
  const reportingMta = clip(form.reportingMta.exec(body)?.[1]);
  const facts = entries.map(({ recipient, details }): BounceFact => {
    const diagnostic = clip(details.join(' '));
    const status = effectiveStatus(null, diagnostic);
    const action = delayed ? 'delayed' : 'failed';
    return {
      kind: 'bounce',
      recipient,
      bounceClass: bounceClassOf(action, status, diagnostic),
      status,
      action,
      diagnostic,
      remoteMta: clip(remoteHost(details.join('\n'))),
      reportingMta,
      originalMessageId: returned.messageId,
    };
  });
  return { ok: true, facts, format: `heuristic:${form.name}` };
}

interface Entry {
  recipient: string;
  details: string[];
}

/** Cuts the address list into entries: an address line, then the lines that explain it. */
function recipientEntries(list: string, recipientLine: RegExp): Entry[] {
  const entries: Entry[] = [];
  let current: Entry | null = null;
  for (const whole of list.split(/\r?\n/)) {
    // No real line comes close; the cap keeps the patterns below linear on hostile input.
    const line = whole.slice(0, MAX_FIELD_CHARS);
    const address = recipientLine.exec(line);
    const recipient = address ? addressIn(address[1] ?? null) : null;
    if (recipient !== null) {
      current = { recipient, details: [] };
      entries.push(current);
      if (entries.length > MAX_RECIPIENTS) break;
    } else if (line.trim() === '') {
      if (current !== null && current.details.length > 0) current = null; // a blank line ends an entry
    } else if (current !== null && current.details.length < 50) {
      current.details.push(line.trim());
    }
  }
  return entries;
}

/** The remote host named in the reply text (Exim: `host mx.x.org [192.0.2.1]`; qmail: `Connected to 192.0.2.1`). */
function remoteHost(details: string): string | null {
  const match = /\bhost (\S+) \[|Connected to (\S+?) but|^(\d{1,3}(?:\.\d{1,3}){3}) does not like/m.exec(details);
  return match ? (match[1] ?? match[2] ?? match[3] ?? null) : null;
}
