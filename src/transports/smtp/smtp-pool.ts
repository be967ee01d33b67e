/**
 * Herald's SMTP client as the delivery engine sees it: `send()` one message to one recipient at
 * one target and get the reply that decided it. Behind it, a FIFO of waiting sends and up to
 * `maxConnections` pipelining connections (see `smtp-connection.ts`), reused while they live and
 * replaced when they die.
 *
 * `send()` never rejects. Every failure is a result: the server's code when a reply decided the
 * message, 0 when none did (timeout, refused or dropped connection, TLS failure), so the engine
 * can classify every outcome the same way.
 *
 * When a connection cannot even be opened (refused, 554 greeting, TLS or AUTH failure) and no
 * other connection is open or opening, every waiting send gets that failure at once. The pool
 * does not reconnect on its own after such a failure — the next `send()` does — so a dead
 * server costs one attempt per burst of sends, not a tight reconnect loop.
 */
import { HeraldError } from '../../core/errors.js';
import { CONNECTION_STATE, SmtpConnection, type ConnectionSettings, type ConnectionTimeouts } from './smtp-connection.js';
import type { SmtpFailure } from './smtp-reply.js';

export interface SmtpTarget {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (smtps, port 465). */
  secure: boolean;
  /** STARTTLS when offered (default true); `requireTls` fails the delivery if not offered. */
  startTls?: boolean;
  requireTls?: boolean;
  tls?: { rejectUnauthorized?: boolean; servername?: string };
  auth?: { user: string; pass: string };
  /** EHLO name. */
  clientName: string;
}

export interface SmtpPoolOptions {
  target: SmtpTarget;
  /** Default 4. */
  maxConnections: number;
  /** Default 1000; then QUIT and reconnect. */
  maxMessagesPerConnection: number;
  /** Per-step timeouts, ms: connect, greeting, each command reply, the final reply after DATA. */
  timeouts?: { connect?: number; greeting?: number; command?: number; data?: number; idle?: number };
}

export interface SmtpEnvelopeMessage {
  /** MAIL FROM; may be '' for the null sender. */
  sender: string;
  recipient: string;
  /** The complete message, CRLF line endings, NOT dot-stuffed. */
  raw: string | Buffer;
}

/**
 * code: the SMTP reply code that decided this message (RCPT's or the final DATA reply or MAIL's),
 * or 0 when there was no usable reply (timeout, refused, dropped connection, TLS failure).
 */
export interface SmtpResult {
  code: number;
  /** Full reply text incl. enhanced status, or a description of the failure. */
  reply: string;
}

/**
 * Defaults, ms. Shorter than RFC 5321 §4.5.3.2's minutes: a smart host that is silent for a
 * minute is better retried later than waited on, except for the final reply, which may follow
 * content scanning.
 */
export const DEFAULT_TIMEOUTS: Readonly<ConnectionTimeouts> = Object.freeze({
  connect: 10_000,
  greeting: 30_000,
  command: 60_000,
  data: 180_000,
  idle: 30_000,
});
const DEFAULT_MAX_CONNECTIONS = 4;
const DEFAULT_MAX_MESSAGES_PER_CONNECTION = 1000;

interface WaitingSend {
  readonly message: SmtpEnvelopeMessage;
  readonly settle: (result: SmtpResult) => void;
}

export class SmtpPool {
  readonly #settings: ConnectionSettings;
  readonly #maxConnections: number;
  readonly #connections = new Set<SmtpConnection>();
  /** Waiting sends; `#head` is the next one, so taking from the front costs nothing. */
  #queue: WaitingSend[] = [];
  #head = 0;
  #closing: Promise<void> | null = null;
  #onDrained: (() => void) | null = null;

  /**
   * @example
   * const pool = new SmtpPool({
   *   target: { host: 'smtp.example.net', port: 587, secure: false, clientName: 'herald.example.com',
   *             auth: { user: 'herald', pass: secret } },
   *   maxConnections: 4,
   *   maxMessagesPerConnection: 1000,
   * });
   * const { code, reply } = await pool.send({ sender: 'a@example.com', recipient: 'b@example.org', raw });
   */
  constructor(options: SmtpPoolOptions) {
    const target = options.target;
    if (/[\s\0]/.test(target.clientName) || target.clientName.length === 0) {
      throw new HeraldError('invalid_config', { field: 'target.clientName', reason: 'must be a non-empty host name without whitespace' });
    }
    this.#maxConnections = positiveInteger(options.maxConnections, DEFAULT_MAX_CONNECTIONS);
    this.#settings = Object.freeze({
      target: Object.freeze({
        ...target,
        tls: target.tls === undefined ? undefined : Object.freeze({ ...target.tls }),
        auth: target.auth === undefined ? undefined : Object.freeze({ ...target.auth }),
      }),
      timeouts: Object.freeze({
        connect: positiveInteger(options.timeouts?.connect, DEFAULT_TIMEOUTS.connect),
        greeting: positiveInteger(options.timeouts?.greeting, DEFAULT_TIMEOUTS.greeting),
        command: positiveInteger(options.timeouts?.command, DEFAULT_TIMEOUTS.command),
        data: positiveInteger(options.timeouts?.data, DEFAULT_TIMEOUTS.data),
        idle: positiveInteger(options.timeouts?.idle, DEFAULT_TIMEOUTS.idle),
      }),
      maxMessages: positiveInteger(options.maxMessagesPerConnection, DEFAULT_MAX_MESSAGES_PER_CONNECTION),
    });
  }

  /** Delivers one message to one recipient. Never rejects: every failure is a result. */
  send(message: SmtpEnvelopeMessage): Promise<SmtpResult> {
    if (this.#closing !== null) return Promise.resolve({ code: 0, reply: 'the SMTP pool is closed; not sent' });
    return new Promise((resolve) => {
      this.#queue.push({ message, settle: resolve });
      this.#dispatch();
      this.#openIfNeeded();
    });
  }

  /** Finishes queued and in-flight transactions, QUITs, closes sockets. */
  close(): Promise<void> {
    this.#closing ??= this.#drain().then(() => Promise.all([...this.#connections].map((connection) => connection.quit())).then(() => undefined));
    return this.#closing;
  }

  /** For /v1/shaping: open connections, queued, in flight. */
  stats(): { connections: number; queued: number; inFlight: number } {
    let inFlight = 0;
    for (const connection of this.#connections) inFlight += connection.inFlight;
    return { connections: this.#connections.size, queued: this.#queued(), inFlight };
  }

  #queued(): number {
    return this.#queue.length - this.#head;
  }

  #next(): WaitingSend | undefined {
    const waiting = this.#queue[this.#head];
    if (waiting === undefined) return undefined;
    this.#head += 1;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return waiting;
  }

  /** Gives waiting sends to connections that can take them now. */
  #dispatch(): void {
    for (const connection of this.#connections) this.#feed(connection);
  }

  #feed(connection: SmtpConnection): void {
    while (this.#queued() > 0 && connection.canTake()) {
      const waiting = this.#next();
      if (waiting === undefined) return;
      connection.take(waiting.message, (result) => this.#settled(waiting, result));
    }
  }

  #settled(waiting: WaitingSend, result: SmtpResult): void {
    waiting.settle(result);
    this.#checkDrained();
  }

  /** One new connection per waiting send not already covered by a connection being opened. */
  #openIfNeeded(): void {
    let opening = 0;
    for (const connection of this.#connections) if (connection.state === CONNECTION_STATE.opening) opening += 1;
    while (this.#queued() > opening && this.#connections.size < this.#maxConnections) {
      this.#open();
      opening += 1;
    }
  }

  #open(): void {
    const connection = new SmtpConnection(this.#settings, {
      available: (ready) => this.#feed(ready),
      closed: (gone) => {
        this.#connections.delete(gone);
        // A connection that worked and then went away (quota, idle, drop) is replaced if needed.
        this.#openIfNeeded();
        this.#checkDrained();
      },
    });
    this.#connections.add(connection);
    connection.open().then(
      () => {
        this.#feed(connection);
        this.#checkDrained();
      },
      (failure: SmtpFailure) => {
        this.#connections.delete(connection);
        this.#failWaitingIfAlone(failure);
      },
    );
  }

  /**
   * A connection could not be opened. If another is open or opening, the waiting sends are left
   * to it; otherwise they all get this failure, since the next attempt would likely meet the same.
   */
  #failWaitingIfAlone(failure: SmtpFailure): void {
    if (this.#connections.size > 0) return;
    const result = failure.toResult();
    for (let waiting = this.#next(); waiting !== undefined; waiting = this.#next()) waiting.settle({ ...result });
    this.#checkDrained();
  }

  #drain(): Promise<void> {
    return new Promise((resolve) => {
      this.#onDrained = resolve;
      this.#checkDrained();
    });
  }

  #checkDrained(): void {
    if (this.#onDrained === null || this.#queued() > 0) return;
    for (const connection of this.#connections) if (connection.inFlight > 0) return;
    const resolve = this.#onDrained;
    this.#onDrained = null;
    resolve();
  }
}

function positiveInteger(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isInteger(value) && value > 0 ? value : fallback;
}
