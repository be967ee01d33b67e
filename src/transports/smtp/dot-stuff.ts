/**
 * The message bytes as they go on the wire after `354`: every line that starts with `.` gets a
 * second `.` (RFC 5321 §4.5.2), and the data ends with `<CRLF>.<CRLF>`. Also answers whether a
 * message has 8-bit bytes, which decides `BODY=8BITMIME`.
 *
 * A dot after a bare LF is stuffed too. The input is meant to be CRLF throughout, but servers
 * that treat a bare LF as a line end would otherwise read `\n.\r\n` as the end of the data — the
 * opening for SMTP smuggling — and servers that only honour CRLF simply keep the extra dot.
 */
import { isAscii } from 'node:buffer';

const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;
const TERMINATOR_AFTER_CRLF = Buffer.from('.\r\n');
const TERMINATOR_WITH_CRLF = Buffer.from('\r\n.\r\n');

/** Dot-stuffs `raw` and appends the end-of-data marker, in one allocation. */
export function dotStuff(raw: Buffer): Buffer {
  const length = raw.length;
  const endsWithCrlf = length >= 2 && raw[length - 2] === CR && raw[length - 1] === LF;
  const terminator = length === 0 || endsWithCrlf ? TERMINATOR_AFTER_CRLF : TERMINATOR_WITH_CRLF;

  // Offsets of the dots that need a twin; most messages have none, so this is usually empty.
  const dots: number[] = [];
  if (length > 0 && raw[0] === DOT) dots.push(0);
  for (let at = raw.indexOf('\n.'); at !== -1; at = raw.indexOf('\n.', at + 2)) dots.push(at + 1);

  const out = Buffer.allocUnsafe(length + dots.length + terminator.length);
  let written = 0;
  let copied = 0;
  for (const dot of dots) {
    written += raw.copy(out, written, copied, dot);
    out[written++] = DOT;
    copied = dot;
  }
  written += raw.copy(out, written, copied, length);
  terminator.copy(out, written);
  return out;
}

/** True when any byte is outside 7-bit ASCII. */
export function hasEightBitBytes(raw: Buffer): boolean {
  return !isAscii(raw);
}
