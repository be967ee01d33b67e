/**
 * One socket seen as SMTP: bytes out, replies in, matched in order to a FIFO of waiters — which
 * is all RFC 2920 pipelining needs, since replies come back in the order commands were sent.
 *
 * Only the oldest waiter's clock runs: with commands in flight the server is answering them one
 * by one, so a step has its full timeout from the moment it is next in line. Everything that
 * ends the conversation — a timeout, a socket error or close, a malformed reply, a 421, a reply
 * nobody asked for, a bug in a reply handler — goes through `fail()` exactly once, which destroys
 * the socket and tells the owner. The channel never throws at its owner and never leaves a socket
 * 'error' event unhandled. It knows nothing of transactions; the connection does.
 */
import type { Socket } from 'node:net';
import { ReplyParser, type ReplySink } from './reply-parser.js';
import { SmtpFailure, type SmtpReply } from './smtp-reply.js';
import { upgradeToTls, type TlsSettings } from './socket-open.js';

export interface ReplyWaiter {
  /** How long the server may take, counted from when this becomes the oldest waiter. */
  readonly timeoutMs: number;
  /** Names the awaited reply in timeout messages: "the reply to RCPT TO". */
  readonly what: string;
  onReply(reply: SmtpReply): void;
  /** Called instead of `onReply` when the channel fails first. */
  onFailure?(failure: SmtpFailure): void;
}

/** After QUIT, how long a server may keep the socket open before we stop waiting politely. */
const CLOSE_GRACE_MS = 2_000;

export class SmtpChannel {
  #socket: Socket;
  readonly #label: string;
  readonly #onFailure: (failure: SmtpFailure) => void;
  readonly #parser = new ReplyParser();
  readonly #waiters: ReplyWaiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  #timerMs = 0;
  #ended = false;
  #resolveClosed: () => void = () => {};
  readonly #closed = new Promise<void>((resolve) => {
    this.#resolveClosed = resolve;
  });

  /**
   * @param label - `host:port`, for failure descriptions.
   * @param onFailure - told once when the conversation ends without a QUIT.
   */
  constructor(socket: Socket, label: string, onFailure: (failure: SmtpFailure) => void) {
    this.#socket = socket;
    this.#label = label;
    this.#onFailure = onFailure;
    socket.on('error', this.#onError);
    this.#attach(socket);
  }

  /** Replies still owed by the server. */
  get pending(): number {
    return this.#waiters.length;
  }

  /**
   * Writes without waiting; `onFlushed` runs once the bytes are handed to the kernel. Writes made
   * in the same tick leave together: the socket is corked until the tick ends, so a burst of
   * pipelined sends costs one system call instead of one each (which dominates under gVisor and
   * other sandboxes where syscalls are dear).
   */
  write(data: string | Buffer, onFlushed?: () => void): void {
    if (this.#ended) return;
    if (!this.#corked) {
      // Uncork the socket that was corked, even if a STARTTLS upgrade replaced it meanwhile.
      const socket = this.#socket;
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    this.#socket.write(data, onFlushed === undefined ? undefined : () => onFlushed());
  }

  #corked = false;

  /** Queues a waiter for the next reply not yet claimed. */
  expect(waiter: ReplyWaiter): void {
    if (this.#ended) return;
    this.#waiters.push(waiter);
    if (this.#waiters.length === 1) this.#armTimer();
  }

  /** Restarts the clock of `waiter` if it is the oldest — used once a large write has flushed. */
  restartClock(waiter: ReplyWaiter): void {
    if (this.#waiters[0] === waiter) this.#armTimer();
  }

  /** Sends one command line and resolves with its reply; rejects with the channel's failure. */
  request(line: string, timeoutMs: number, what: string): Promise<SmtpReply> {
    const reply = this.waitReply(timeoutMs, what);
    this.write(`${line}\r\n`);
    return reply;
  }

  /** Resolves with the next reply without sending anything (the greeting). */
  waitReply(timeoutMs: number, what: string): Promise<SmtpReply> {
    return new Promise((resolve, reject) => {
      if (this.#ended) reject(SmtpFailure.noReply(`connection to ${this.#label} already closed`));
      else this.expect({ timeoutMs, what, onReply: resolve, onFailure: reject });
    });
  }

  /**
   * Moves the conversation onto TLS after the server's `220` to STARTTLS. Bytes already received
   * past that reply were sent before encryption and cannot be trusted (the STARTTLS command
   * injection attacks), so they end the connection.
   */
  async startTls(host: string, tls: TlsSettings, timeoutMs: number): Promise<void> {
    if (this.#ended) throw SmtpFailure.noReply(`connection to ${this.#label} closed before the TLS handshake`);
    if (this.#parser.buffered || this.#waiters.length > 0) {
      const failure = SmtpFailure.noReply(`${this.#label} sent data after its 220 to STARTTLS; refusing to continue in the clear`);
      this.fail(failure);
      throw failure;
    }
    const plain = this.#socket;
    this.#detach(plain);
    try {
      this.#socket = await upgradeToTls(plain, host, tls, timeoutMs);
    } catch (error) {
      const failure = SmtpFailure.from(error, `TLS handshake with ${this.#label} failed`);
      this.fail(failure);
      throw failure;
    }
    if (this.#ended) throw SmtpFailure.noReply(`connection to ${this.#label} closed during the TLS handshake`);
    this.#socket.on('error', this.#onError);
    this.#attach(this.#socket);
  }

  /** Ends the conversation abnormally: destroys the socket and reports `failure` once. */
  fail(failure: SmtpFailure): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clearTimer();
    const waiters = this.#waiters.splice(0);
    this.#socket.destroy();
    this.#resolveClosed();
    for (const waiter of waiters) waiter.onFailure?.(failure);
    this.#onFailure(failure);
  }

  /** Closes after QUIT: half-closes, then destroys if the server lingers. */
  end(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#clearTimer();
      this.#waiters.length = 0;
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    return this.#closed;
  }

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
  }

  #detach(socket: Socket): void {
    socket.off('data', this.#onData);
    socket.off('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#ended) return;
    // Everything the reply handlers write while this chunk is parsed — typically the data of one
    // message plus the next message's MAIL/RCPT/DATA — leaves in a single segment.
    this.#socket.cork();
    this.#parser.push(chunk, this.#sink);
    this.#socket.uncork();
  };

  readonly #sink: ReplySink = {
    reply: (reply) => {
      if (this.#ended) return;
      if (reply.code === 421) {
        // 421 may answer any command, or come unasked: the server is closing the connection.
        this.fail(SmtpFailure.fromReply(reply));
        return;
      }
      const waiter = this.#waiters.shift();
      if (waiter === undefined) {
        this.fail(SmtpFailure.noReply(`${this.#label} sent a reply nobody asked for: ${reply.text}`));
        return;
      }
      this.#armTimer();
      try {
        waiter.onReply(reply);
      } catch (error) {
        this.fail(SmtpFailure.from(error, 'internal error while handling a reply'));
      }
    },
    malformed: (description) => this.fail(SmtpFailure.noReply(`${this.#label}: ${description}`)),
  };

  readonly #onError = (error: Error): void => {
    this.fail(SmtpFailure.noReply(`connection to ${this.#label} failed: ${error.message}`, error));
  };

  readonly #onClose = (): void => {
    if (!this.#ended) this.fail(SmtpFailure.noReply(`${this.#label} closed the connection`));
    this.#resolveClosed();
  };

  #armTimer(): void {
    const head = this.#waiters[0];
    if (head === undefined) {
      this.#clearTimer();
      return;
    }
    // Re-arming the same timer object is much cheaper than a new one per reply.
    if (this.#timer !== null && this.#timerMs === head.timeoutMs) {
      this.#timer.refresh();
      return;
    }
    this.#clearTimer();
    this.#timerMs = head.timeoutMs;
    this.#timer = setTimeout(this.#onTimeout, head.timeoutMs);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  readonly #onTimeout = (): void => {
    this.#timer = null;
    const head = this.#waiters[0];
    const what = head === undefined ? 'a reply' : head.what;
    this.fail(SmtpFailure.noReply(`timed out after ${this.#timerMs} ms waiting for ${what} from ${this.#label}`));
  };
}
