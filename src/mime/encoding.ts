/**
 * The byte-level rules of RFC 5322 / 2045 / 2047 that the composer applies: header encoded words
 * and folding, address formatting, and the three body transfer encodings (7bit, quoted-printable,
 * base64) with the cheap analysis that picks between them.
 *
 * Pure functions over strings: no I/O, no randomness, no knowledge of message structure (which
 * headers exist, in what order, how parts nest) — that belongs to the composer.
 */
import type { Address } from '../core/types.js';

export const CRLF = '\r\n';
/** RFC 5322 2.1.1: the hard limit on a line, excluding CRLF. */
export const MAX_LINE_OCTETS = 998;
/** RFC 2047 2: a line holding an encoded word may not exceed 76 characters, so fold there. */
const FOLD_WIDTH = 76;
/** RFC 2047 2: an encoded word is at most 75 characters, `=?utf-8?X?` and `?=` included. */
const MAX_WORD = 75;
const WORD_OVERHEAD = '=?utf-8?B??='.length;
/** RFC 2045 6.7: encoded lines are at most 76 characters; keep one for the soft-break `=`. */
const QP_LINE = 75;
const BASE64_LINE = 76;

const HEX = '0123456789ABCDEF';
const ESCAPE = Array.from({ length: 256 }, (_, b) => `=${HEX[b >> 4]}${HEX[b & 15]}`);
// RFC 2047 5(3): in a phrase only these may stay literal in Q; elsewhere any printable except = ? _.
const Q_LITERAL_PHRASE = /[A-Za-z0-9!*+\-/]/;
const Q_LITERAL_TEXT = /[\x21-\x3c\x3e\x40-\x5e\x60-\x7e]/;
/** A display name that can go as a sequence of atoms, with single spaces between them. */
const ATOM_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+( [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;
/** An address that reads unambiguously without angle brackets. */
const BARE_ADDRESS = /^[^\s"(),:;<>@[\]\\]+@[^\s"(),:;<>@[\]\\]+$/;
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const LINE_BREAK = /[\r\n]/;
const PRINTABLE = /^[\x20-\x7e]*$/;
/** A word that could not fit on a folded line of 76 characters. */
const LONG_WORD = /[^ ]{76}/;
const PRINTABLE_OR_TAB = /^[\x20-\x7e\t]*$/;
const ANY_LINE_BREAK = /\r\n|\r|\n/g;
const BARE_LINE_BREAK = /\r(?!\n)|(?<!\r)\n/;
const NON_ASCII = /[\u0080-\uffff]/;

/** Throws when `name` is not an RFC 5322 field name; a bad name would corrupt the header block. */
export function assertFieldName(name: string): void {
  if (!FIELD_NAME.test(name)) throw new Error(`Invalid header name ${JSON.stringify(name)}`);
}

/** Throws when a header value carries CR or LF, which would end the header line early. */
export function assertNoLineBreak(what: string, value: string): void {
  if (LINE_BREAK.test(value)) throw new Error(`${what} contains a line break`);
}

/**
 * True when `text` cannot go literally into a header: non-ASCII or control characters, a `=?`
 * that decoders would take for an encoded word, edge whitespace that parsers trim, or a word too
 * long to fold under the line limit.
 */
export function needsEncodedWords(text: string): boolean {
  if (!PRINTABLE.test(text) || text.includes('=?') || LONG_WORD.test(text)) return true;
  return text.startsWith(' ') || text.endsWith(' ');
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * RFC 2047 encoded words for `text`, never splitting a code point. The first word fits in
 * `firstWidth` characters (what is left of the first header line), the others in 75. Q for mostly
 * Latin text, B when Q would be clearly longer.
 */
export function encodeWords(text: string, phrase: boolean, firstWidth = MAX_WORD): string[] {
  const literal = phrase ? Q_LITERAL_PHRASE : Q_LITERAL_TEXT;
  const points: number[] = [];
  let bytes = 0;
  let qLength = 0;
  for (const ch of text) {
    let cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    points.push(cp);
    bytes += utf8Length(cp);
    qLength += cp >= 0x80 ? 3 * utf8Length(cp) : cp === 32 || literal.test(ch) ? 1 : 3;
  }
  // Q stays readable, so it wins unless clearly longer (as it is for mostly non-Latin text).
  const useQ = qLength <= 1.5 * Math.ceil(bytes / 3) * 4;
  const words: string[] = [];
  let payload = Math.min(firstWidth, MAX_WORD) - WORD_OVERHEAD;
  let current = '';
  let size = 0;
  const flush = (): void => {
    words.push(useQ ? `=?utf-8?Q?${current}?=` : `=?utf-8?B?${Buffer.from(current, 'utf8').toString('base64')}?=`);
    payload = MAX_WORD - WORD_OVERHEAD;
    current = '';
    size = 0;
  };
  for (const cp of points) {
    const piece = useQ ? qEncode(cp, literal) : String.fromCodePoint(cp);
    const grown = size + (useQ ? piece.length : utf8Length(cp));
    if (current !== '' && (useQ ? grown : Math.ceil(grown / 3) * 4) > payload) flush();
    current += piece;
    size += useQ ? piece.length : utf8Length(cp);
  }
  if (current !== '' || words.length === 0) flush();
  return words;
}

/** Q-encodes one code point (a lone surrogate arrives here as U+FFFD, as Buffer would make it). */
function qEncode(cp: number, literal: RegExp): string {
  if (cp === 32) return '_';
  if (cp < 0x80) {
    const ch = String.fromCharCode(cp);
    return literal.test(ch) ? ch : (ESCAPE[cp] as string);
  }
  let out = '';
  for (const byte of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += ESCAPE[byte] as string;
  return out;
}

function isWsp(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

/**
 * Folds one logical header line (no CRLF yet) at whitespace so that lines stay within 76
 * characters where a fold point exists. Throws when a line would still pass 998 octets: such a
 * header cannot be sent as it is.
 */
export function foldLine(line: string): string {
  let out = '';
  let start = 0;
  while (line.length - start > FOLD_WIDTH) {
    // A folded line must hold more than whitespace, so a fold comes after the line's first word.
    let word = start;
    while (isWsp(line[word])) word++;
    let at = start + FOLD_WIDTH;
    while (at > word && !isWsp(line[at])) at--;
    if (at <= word) {
      at = word;
      while (at < line.length && !isWsp(line[at])) at++;
      if (at === line.length) break;
    }
    out += checkedLine(line.slice(start, at));
    start = at;
  }
  return out + checkedLine(line.slice(start));
}

function checkedLine(line: string): string {
  if (line.length * 3 > MAX_LINE_OCTETS && Buffer.byteLength(line) > MAX_LINE_OCTETS) {
    throw new Error(`Header line cannot be folded within ${MAX_LINE_OCTETS} octets: ${line.slice(0, 40)}…`);
  }
  return line + CRLF;
}

/** A complete header for unstructured text (Subject, custom headers), encoded where needed. */
export function unstructuredHeader(name: string, value: string): string {
  if (!needsEncodedWords(value)) return foldLine(`${name}: ${value}`);
  const firstWidth = FOLD_WIDTH - name.length - 2;
  // With no room left for a word holding the widest character (12 characters in Q), the value
  // starts on a continuation line.
  if (firstWidth < WORD_OVERHEAD + 12) return `${name}:${CRLF} ${encodeWords(value, false).join(CRLF + ' ')}${CRLF}`;
  return `${name}: ${encodeWords(value, false, firstWidth).join(CRLF + ' ')}${CRLF}`;
}

/**
 * A custom header. Printable ASCII goes verbatim, folded only at its own whitespace, because the
 * header may be structured (List-Unsubscribe URLs must not be encoded); anything else is encoded
 * as unstructured text, as it could not go literally anyway.
 */
export function customHeader(name: string, value: string): string {
  return PRINTABLE_OR_TAB.test(value) ? foldLine(`${name}: ${value}`) : unstructuredHeader(name, value);
}

/**
 * One mailbox as it appears in an address header: the display name bare, quoted or encoded as
 * it needs; the address itself as given (an SMTPUTF8 local part stays UTF-8).
 */
export function formatAddress(address: Address): string {
  assertNoLineBreak('Address', address.email);
  const name = address.name;
  if (name === undefined || name === '') return BARE_ADDRESS.test(address.email) ? address.email : `<${address.email}>`;
  assertNoLineBreak('Display name', name);
  if (needsEncodedWords(name)) return `${encodeWords(name, true).join(' ')} <${address.email}>`;
  if (ATOM_PHRASE.test(name)) return `${name} <${address.email}>`;
  return `"${name.replace(/[\\"]/g, '\\$&')}" <${address.email}>`;
}

/** A complete address header (From, To, Cc, Reply-To), folded between words. */
export function addressHeader(name: string, addresses: readonly Address[]): string {
  return foldLine(`${name}: ${addresses.map(formatAddress).join(', ')}`);
}

/**
 * True when `body` can go as 7bit once its line breaks are CRLF: ASCII without NUL (RFC 2045
 * 2.7), no line over 998 octets. A bare CR counts as part of its line, which errs towards
 * encoding. Native scans only: this runs on every personalised body.
 */
export function isSevenBit(body: string): boolean {
  if (NON_ASCII.test(body) || body.includes('\0')) return false;
  if (body.length <= MAX_LINE_OCTETS) return true;
  for (let start = 0; ; ) {
    const end = body.indexOf('\n', start);
    const stop = end < 0 ? body.length : body.charCodeAt(end - 1) === 13 ? end - 1 : end;
    if (stop - start > MAX_LINE_OCTETS) return false;
    if (end < 0) return true;
    start = end + 1;
  }
}

/** True when some line break in `body` is a bare CR or LF. */
export function hasBareLineBreak(body: string): boolean {
  if (!body.includes('\r')) return body.includes('\n');
  return !body.includes('\n') || BARE_LINE_BREAK.test(body);
}

/** Every bare CR, bare LF and CRLF as CRLF: the canonical form of text (RFC 2046 4.1.1). */
export function normaliseLineBreaks(body: string): string {
  // Bodies written with one kind of break (LF from most templates) take a plain string replace.
  if (!body.includes('\r')) return body.includes('\n') ? body.replaceAll('\n', CRLF) : body;
  if (!body.includes('\n')) return body.replaceAll('\r', CRLF);
  return BARE_LINE_BREAK.test(body) ? body.replace(ANY_LINE_BREAK, CRLF) : body;
}

/**
 * A cheap estimate of whether quoted-printable keeps `body` readable at a reasonable size, or
 * base64 should be used. Every non-ASCII byte costs three characters in quoted-printable;
 * base64 costs 4/3 per byte plus line breaks. Leans towards quoted-printable, which spam filters
 * and people read more easily, unless it is clearly larger (mostly non-Latin text).
 */
export function preferQuotedPrintable(body: string): boolean {
  const bytes = Buffer.byteLength(body);
  const quotedPrintable = body.length + 4.5 * (bytes - body.length);
  const base64 = (bytes * 4 * (BASE64_LINE + 2)) / (3 * BASE64_LINE);
  return quotedPrintable <= 1.25 * base64;
}

// Byte classes for the quoted-printable loop: a table keeps its hot path to one lookup.
const LITERAL = 0;
const ESCAPED = 1;
const CR = 2;
const LF = 3;
const WHITESPACE = 4;
const CONTINUATION = 5;
const QP_CLASS = Uint8Array.from({ length: 256 }, (_, b) =>
  b === 13 ? CR : b === 10 ? LF : b === 32 || b === 9 ? WHITESPACE : b > 32 && b < 127 && b !== 61 ? LITERAL : b >= 0x80 && b < 0xc0 ? CONTINUATION : ESCAPED,
);
const HEX_CODES = Buffer.from(HEX, 'latin1');
/** Bodies whose worst-case UTF-8 size (3 bytes a UTF-16 unit) fits here use the reused buffers. */
const SCRATCH_LIMIT = 256 * 1024;
// Reused across calls to spare the allocation (and the collector) ~4x the body per message. Safe
// because encoding is synchronous: no two calls can interleave.
let scratchIn = new Uint8Array(0);
let scratchOut = Buffer.alloc(0);
const utf8 = new TextEncoder();

/** Every byte escaped, plus a soft break for every 24 bytes (72 characters). */
function quotedPrintableCapacity(bytes: number): number {
  return bytes * 3 + Math.ceil(bytes / 24) * 3 + 3;
}

/** Writes a soft line break (`=` CRLF) at `o` and returns the offset after it. */
function softBreak(out: Buffer, o: number): number {
  out[o] = 61;
  out[o + 1] = 13;
  out[o + 2] = 10;
  return o + 3;
}

/**
 * RFC 2045 6.7 quoted-printable over the UTF-8 bytes of `body`. Any line break form becomes a
 * hard CRLF break. A character's escapes stay on one line so that line-wise decoders cope.
 */
export function encodeQuotedPrintable(body: string): string {
  const maxBytes = body.length * 3;
  const reuse = maxBytes <= SCRATCH_LIMIT;
  if (reuse && scratchIn.length < maxBytes) {
    scratchIn = new Uint8Array(Math.max(maxBytes, 16 * 1024));
    scratchOut = Buffer.allocUnsafeSlow(quotedPrintableCapacity(scratchIn.length));
  }
  const input = reuse ? scratchIn : new Uint8Array(maxBytes);
  const n = utf8.encodeInto(body, input).written;
  const out = reuse ? scratchOut : Buffer.allocUnsafe(quotedPrintableCapacity(n));
  let o = 0;
  let line = 0;
  for (let i = 0; i < n; i++) {
    const b = input[i] as number;
    let kind = QP_CLASS[b] as number;
    if (kind === WHITESPACE) {
      // Whitespace at the end of a line would be lost in transit (RFC 2045 6.7 rule 3).
      const next = i + 1 < n ? input[i + 1] : 13;
      kind = next === 13 || next === 10 ? ESCAPED : LITERAL;
    }
    if (kind === LITERAL) {
      if (line === QP_LINE) {
        o = softBreak(out, o);
        line = 0;
      }
      out[o++] = b;
      line++;
    } else if (kind === CR || kind === LF) {
      if (kind === CR && i + 1 < n && input[i + 1] === 10) i++;
      out[o++] = 13;
      out[o++] = 10;
      line = 0;
    } else {
      // A lead byte reserves room for the escapes of its whole character.
      const width = kind === CONTINUATION ? 0 : b < 0xc0 ? 3 : b < 0xe0 ? 6 : b < 0xf0 ? 9 : 12;
      if (line + width > QP_LINE) {
        o = softBreak(out, o);
        line = 0;
      }
      out[o++] = 61;
      out[o++] = HEX_CODES[b >> 4] as number;
      out[o++] = HEX_CODES[b & 15] as number;
      line += 3;
    }
  }
  return out.toString('latin1', 0, o);
}

/** Base64 of the UTF-8 bytes of `body`, in lines of 76 characters (RFC 2045 6.8). */
export function encodeBase64(body: string): string {
  const encoded = Buffer.from(body, 'utf8').toString('base64');
  let out = encoded.slice(0, BASE64_LINE);
  for (let i = BASE64_LINE; i < encoded.length; i += BASE64_LINE) out += CRLF + encoded.slice(i, i + BASE64_LINE);
  return out;
}
