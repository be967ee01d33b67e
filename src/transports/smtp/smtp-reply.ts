/**
 * The two shapes an SMTP exchange can end in: a reply the server sent (`SmtpReply`), or a failure
 * that ends a connection (`SmtpFailure`: a reply such as 421 or a non-220 greeting, or no usable
 * reply at all, code 0). Both carry the code and enhanced status as fields, so callers never
 * parse them back out of a message string.
 */
import type { SmtpResult } from './smtp-pool.js';

const ENHANCED_STATUS = /^([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/;

/** One complete, possibly multi-line, server reply. */
export class SmtpReply {
  /**
   * @param code - the three-digit reply code.
   * @param lines - the text of each line after `250-` / `250 `, in order; at least one entry.
   */
  constructor(
    readonly code: number,
    readonly lines: readonly string[],
  ) {}

  /** 2xx: the command was accepted. */
  get positive(): boolean {
    return this.code >= 200 && this.code < 300;
  }

  /** The RFC 3463 status from the first line (`5.1.1`), when the server sends one. */
  get enhancedStatus(): string | null {
    return ENHANCED_STATUS.exec(this.lines[0] ?? '')?.[1] ?? null;
  }

  /**
   * The reply as one line for results and logs: `550 5.1.1 no such user`. Continuation lines
   * are joined with a space because results are stored and shown as single-line text.
   */
  get text(): string {
    const body = this.lines.filter((line) => line.length > 0).join(' ');
    return body.length > 0 ? `${this.code} ${body}` : String(this.code);
  }
}

/**
 * Why a connection (and every transaction still waiting on it) ended. `code` is the server's
 * reply code when a reply decided it (421, a 554 greeting, 535 to AUTH), or 0 when there was no
 * usable reply: timeout, refused or dropped connection, TLS failure, malformed reply.
 */
export class SmtpFailure extends Error {
  readonly code: number;
  readonly reply: string;
  readonly enhancedStatus: string | null;

  private constructor(code: number, reply: string, enhancedStatus: string | null, cause?: unknown) {
    super(reply, cause === undefined ? undefined : { cause });
    this.name = 'SmtpFailure';
    this.code = code;
    this.reply = reply;
    this.enhancedStatus = enhancedStatus;
  }

  /** The server answered, and the answer ends the connection. */
  static fromReply(reply: SmtpReply): SmtpFailure {
    return new SmtpFailure(reply.code, reply.text, reply.enhancedStatus);
  }

  /** Nothing usable came back; `description` says what happened instead. */
  static noReply(description: string, cause?: unknown): SmtpFailure {
    return new SmtpFailure(0, description, null, cause);
  }

  /** Any thrown value as a failure, so internal bugs also end as a result instead of a crash. */
  static from(error: unknown, context: string): SmtpFailure {
    if (error instanceof SmtpFailure) return error;
    const message = error instanceof Error ? error.message : String(error);
    return SmtpFailure.noReply(`${context}: ${message}`, error);
  }

  toResult(): SmtpResult {
    return { code: this.code, reply: this.reply };
  }
}
