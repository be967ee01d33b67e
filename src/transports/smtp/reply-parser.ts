/**
 * Turns the bytes a server sends into replies, one callback per complete reply (`250-…` lines
 * gathered until the `250 …` line). It holds no socket and no timers: the channel feeds it.
 *
 * Anything that is not a reply (a line without a code, a continuation with a different code, a
 * line or reply too long to be honest) is reported once through `malformed` and the parser stops:
 * after garbage there is no way to know which reply belongs to which command, so the only safe
 * move for the caller is to drop the connection.
 */
import { SmtpReply } from './smtp-reply.js';

/** RFC 5321 allows 512 octets per reply line; real servers overshoot, but not by this much. */
const MAX_LINE_BYTES = 16 * 1024;
/** A multi-line reply longer than this is a runaway, not an EHLO list. */
const MAX_REPLY_LINES = 512;

const LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/s;
const LF = 0x0a;
const CR = 0x0d;

export interface ReplySink {
  reply(reply: SmtpReply): void;
  /** Called at most once; no reply follows it. */
  malformed(description: string): void;
}

export class ReplyParser {
  #partial: Buffer | null = null;
  #code = 0;
  #lines: string[] = [];
  #broken = false;

  /** True while bytes of an unfinished reply are held (used to refuse data sent ahead of TLS). */
  get buffered(): boolean {
    return this.#partial !== null || this.#lines.length > 0;
  }

  push(chunk: Buffer, sink: ReplySink): void {
    if (this.#broken) return;
    const data = this.#partial === null ? chunk : Buffer.concat([this.#partial, chunk]);
    this.#partial = null;
    let start = 0;
    for (let newline = data.indexOf(LF, start); newline !== -1; newline = data.indexOf(LF, start)) {
      // Bare LF is tolerated as a line end: some appliances send it, and it is unambiguous here.
      const end = newline > start && data[newline - 1] === CR ? newline - 1 : newline;
      const line = data.toString('utf8', start, end);
      start = newline + 1;
      if (!this.#line(line, sink)) return;
    }
    if (start < data.length) {
      if (data.length - start > MAX_LINE_BYTES) {
        this.#fail(sink, `reply line longer than ${MAX_LINE_BYTES} bytes without a line end`);
        return;
      }
      // Copy so a small remainder does not pin a large socket chunk in memory.
      this.#partial = Buffer.from(data.subarray(start));
    }
  }

  #line(line: string, sink: ReplySink): boolean {
    const match = LINE.exec(line);
    if (!match || line.length > MAX_LINE_BYTES) {
      this.#fail(sink, `malformed reply line from server: ${quote(line)}`);
      return false;
    }
    const code = Number(match[1]);
    if (this.#lines.length > 0 && code !== this.#code) {
      this.#fail(sink, `reply line ${quote(line)} does not continue the ${this.#code} reply before it`);
      return false;
    }
    this.#code = code;
    this.#lines.push(match[3] ?? '');
    if (match[2] === '-') {
      if (this.#lines.length > MAX_REPLY_LINES) {
        this.#fail(sink, `multi-line ${code} reply longer than ${MAX_REPLY_LINES} lines`);
        return false;
      }
      return true;
    }
    const reply = new SmtpReply(code, this.#lines);
    this.#lines = [];
    sink.reply(reply);
    return !this.#broken;
  }

  #fail(sink: ReplySink, description: string): void {
    this.#broken = true;
    this.#partial = null;
    this.#lines = [];
    sink.malformed(description);
  }
}

function quote(line: string): string {
  return JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line);
}
