/**
 * The hot-path composer: one RFC 5322 message per recipient, for content without attachments.
 *
 * Everything every recipient of one content shares (From, Cc, Reply-To, custom headers, the
 * multipart boundary and part headers) is encoded once, in the constructor; `compose()` encodes
 * only the recipient's own fields and reuses the last encoded body while the same body keeps
 * coming (a non-personalised batch sends one body to everyone).
 *
 * Owns the message's structure: header order, single part or multipart/alternative, and the
 * transfer encoding of each part. The byte-level rules live in encoding.ts. It does not
 * dot-stuff (the SMTP client does), sign, or handle attachments (library-composer.ts does).
 */
import { randomBytes } from 'node:crypto';
import type { Address } from '../core/types.js';
import {
  CRLF,
  addressHeader,
  assertFieldName,
  assertNoLineBreak,
  customHeader,
  encodeBase64,
  encodeQuotedPrintable,
  isSevenBit,
  normaliseLineBreaks,
  preferQuotedPrintable,
  unstructuredHeader,
} from './encoding.js';

/** What every message of one content shares: prepared once. */
export interface SharedParts {
  from: Address;
  cc: Address[];
  replyTo: Address[];
  /** Custom headers, written after MIME-Version in this order. */
  headers: Record<string, string>;
}

/** What differs per recipient. */
export interface MessageParts {
  /** Empty for a copy whose recipient is not in To (a Bcc-style copy): no To header then. */
  to: Address[];
  subject: string;
  html?: string;
  text?: string;
  /** With angle brackets, e.g. `<msg_x@example.com>`. */
  messageId: string;
  date: Date;
  /** Per-recipient extras such as List-Unsubscribe; one named like a shared header replaces it. */
  headers?: Record<string, string>;
}

export interface ComposerOptions {
  /**
   * Start of the multipart boundary; random hex follows. It must begin with `=_`, a pair that
   * quoted-printable and base64 output can never contain, so only 7bit parts need checking.
   */
  boundaryPrefix?: string;
}

/** Headers the composer writes itself; a custom header of the same name would duplicate them. */
const RESERVED = new Set(['from', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'content-transfer-encoding']);
const BOUNDARY_PREFIX = /^=_[0-9A-Za-z_.-]{0,44}$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]+>$/;
const MIME_VERSION = 'MIME-Version: 1.0' + CRLF;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

type BodyType = 'plain' | 'html';

/** The encoded form of one body, kept while the same body string keeps coming. */
class PartCache {
  #body: string | undefined;
  #encoded = '';
  readonly #encode: (body: string) => string;

  constructor(encode: (body: string) => string) {
    this.#encode = encode;
  }

  get(body: string): string {
    if (body !== this.#body) {
      this.#encoded = this.#encode(body);
      this.#body = body;
    }
    return this.#encoded;
  }
}

/**
 * Composes the messages of one content, one per recipient.
 *
 * @example
 * const composer = new MessageComposer({ from: { email: 'shop@example.org', name: 'Shop' }, cc: [], replyTo: [], headers: {} });
 * const raw = composer.compose({ to: [{ email: 'ann@example.net' }], subject: 'Hi', text: 'Hello', messageId: '<m1@example.org>', date: now });
 */
export class MessageComposer {
  readonly #boundary: string;
  /** The From header; To, which differs per recipient, follows it. */
  readonly #from: string;
  readonly #ccReplyTo: string;
  /** MIME-Version and the shared custom headers. */
  readonly #trailer: string;
  readonly #sharedCustom: ReadonlyArray<{ lowerName: string; line: string }>;
  readonly #alternativeOpen: string;
  readonly #alternativeMiddle: string;
  readonly #alternativeClose: string;
  readonly #textOnly = new PartCache((body) => this.#encodePart('plain', body, true));
  readonly #htmlOnly = new PartCache((body) => this.#encodePart('html', body, true));
  readonly #textAlternative = new PartCache((body) => this.#encodePart('plain', body, false));
  readonly #htmlAlternative = new PartCache((body) => this.#encodePart('html', body, false));
  #lastSubject: string | undefined;
  #subjectLine = '';
  #lastSecond = Number.NaN;
  #dateLine = '';

  constructor(shared: SharedParts, options: ComposerOptions = {}) {
    const prefix = options.boundaryPrefix ?? '=_herald_';
    if (!BOUNDARY_PREFIX.test(prefix)) throw new Error('boundaryPrefix must start with "=_" and use only letters, digits, "_", "." and "-"');
    this.#boundary = prefix + randomBytes(12).toString('hex');
    this.#from = addressHeader('From', [shared.from]);
    this.#ccReplyTo =
      (shared.cc.length > 0 ? addressHeader('Cc', shared.cc) : '') + (shared.replyTo.length > 0 ? addressHeader('Reply-To', shared.replyTo) : '');
    this.#sharedCustom = Object.entries(shared.headers).map(([name, value]) => ({ lowerName: name.toLowerCase(), line: customLine(name, value) }));
    this.#trailer = MIME_VERSION + this.#sharedCustom.map((header) => header.line).join('');
    const delimiter = `--${this.#boundary}`;
    this.#alternativeOpen = `Content-Type: multipart/alternative;${CRLF} boundary="${this.#boundary}"${CRLF}${CRLF}${delimiter}${CRLF}`;
    this.#alternativeMiddle = `${CRLF}${delimiter}${CRLF}`;
    this.#alternativeClose = `${CRLF}${delimiter}--${CRLF}`;
  }

  /** The complete message, CRLF line endings, ending with CRLF. Not dot-stuffed. */
  compose(parts: MessageParts): string {
    let head = this.#from;
    if (parts.to.length > 0) head += addressHeader('To', parts.to);
    head += this.#ccReplyTo + this.#subject(parts.subject) + this.#date(parts.date);
    if (!MESSAGE_ID.test(parts.messageId)) throw new Error(`Invalid Message-ID ${JSON.stringify(parts.messageId)}`);
    head += 'Message-ID: ' + parts.messageId + CRLF + this.#customHeaders(parts.headers);
    const { text, html } = parts;
    if (text !== undefined && html !== undefined) {
      return head + this.#alternativeOpen + this.#textAlternative.get(text) + this.#alternativeMiddle + this.#htmlAlternative.get(html) + this.#alternativeClose;
    }
    return head + (html !== undefined ? this.#htmlOnly.get(html) : this.#textOnly.get(text ?? ''));
  }

  #subject(subject: string): string {
    if (subject !== this.#lastSubject) {
      assertNoLineBreak('Subject', subject);
      this.#subjectLine = unstructuredHeader('Subject', subject);
      this.#lastSubject = subject;
    }
    return this.#subjectLine;
  }

  #date(date: Date): string {
    const second = Math.floor(date.getTime() / 1000);
    if (second !== this.#lastSecond) {
      this.#dateLine = 'Date: ' + formatDate(date) + CRLF;
      this.#lastSecond = second;
    }
    return this.#dateLine;
  }

  #customHeaders(extra: Record<string, string> | undefined): string {
    if (extra === undefined) return this.#trailer;
    let lines = '';
    const names = new Set<string>();
    for (const [name, value] of Object.entries(extra)) {
      lines += customLine(name, value);
      names.add(name.toLowerCase());
    }
    if (!this.#sharedCustom.some((header) => names.has(header.lowerName))) return this.#trailer + lines;
    const kept = this.#sharedCustom.filter((header) => !names.has(header.lowerName));
    return MIME_VERSION + kept.map((header) => header.line).join('') + lines;
  }

  /**
   * One part's headers and content: 7bit when the body allows it, else quoted-printable unless
   * base64 is clearly smaller. A standalone body that lacks a final line break gets one, since
   * the message must end with CRLF and every encoding should then read back the same.
   */
  #encodePart(type: BodyType, body: string, standalone: boolean): string {
    if (standalone && body !== '' && !body.endsWith('\n') && !body.endsWith('\r')) body += CRLF;
    let encoding: string;
    let content: string;
    // Any text may contain the boundary, so a 7bit part inside multipart is checked for it.
    if (isSevenBit(body) && (standalone || !body.includes(this.#boundary))) {
      encoding = '7bit';
      content = normaliseLineBreaks(body);
    } else if (preferQuotedPrintable(body)) {
      encoding = 'quoted-printable';
      content = encodeQuotedPrintable(body);
    } else {
      encoding = 'base64';
      content = encodeBase64(normaliseLineBreaks(body));
      if (standalone && content !== '') content += CRLF;
    }
    return `Content-Type: text/${type}; charset=utf-8${CRLF}Content-Transfer-Encoding: ${encoding}${CRLF}${CRLF}${content}`;
  }
}

function customLine(name: string, value: string): string {
  assertFieldName(name);
  if (RESERVED.has(name.toLowerCase())) throw new Error(`Header ${name} is written by the composer and cannot be set as a custom header`);
  assertNoLineBreak(`Header ${name}`, value);
  return customHeader(name, value);
}

function pad2(value: number): string {
  return value < 10 ? '0' + value : String(value);
}

/** RFC 5322 3.3 date-time in UTC, e.g. `Tue, 05 Mar 2024 09:07:03 +0000`. */
function formatDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new Error('Invalid Date');
  const time = `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}`;
  const year = String(date.getUTCFullYear()).padStart(4, '0');
  return `${DAYS[date.getUTCDay()]}, ${pad2(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${year} ${time} +0000`;
}
