/**
 * One SMTP session: opens the socket and runs the handshake, then carries transactions, one
 * message and one recipient each, until it is told to quit, reaches its message quota, sits idle
 * too long, or fails. It owns the transaction state machine; the pool decides what to send where.
 *
 * Connection states:
 *   opening ──ready──▶ ready ──quit/idle/quota──▶ closing ──221 or close──▶ closed
 *   opening ──failure──▶ closed      (open() rejects; the pool fails the sends waiting for it)
 *   ready/closing ──failure──▶ closed (every unfinished transaction gets the failure)
 *
 * A transaction, with PIPELINING (RFC 2920): `MAIL FROM`, `RCPT TO` and `DATA` go out as one
 * write and three replies are expected in order. If MAIL or RCPT is refused, the DATA reply
 * (503/554) is read and discarded and the refusal is the result; RSET follows when MAIL had been
 * accepted. On 354 the dot-stuffed data is written and the next message's group may follow it at
 * once (commands after the end-of-data are allowed), so a connection keeps several transactions
 * in flight and the only wait per message is the 354. Without PIPELINING each command waits for
 * the previous reply.
 *
 * A transaction whose final reply never came — timeout, drop, 421 — gets the connection's
 * failure (code 0 or 421), never a 2xx: the caller must retry rather than believe it was sent.
 */
import { NO_CAPABILITIES, type Capabilities } from './capabilities.js';
import { prepareTransaction, type Preparation, type PreparedTransaction } from './envelope.js';
import { SmtpChannel, type ReplyWaiter } from './smtp-channel.js';
import { handshake } from './smtp-handshake.js';
import type { SmtpEnvelopeMessage, SmtpResult, SmtpTarget } from './smtp-pool.js';
import { SmtpFailure, type SmtpReply } from './smtp-reply.js';
import { connectTcp, upgradeToTls } from './socket-open.js';

export interface ConnectionTimeouts {
  connect: number;
  greeting: number;
  command: number;
  data: number;
  idle: number;
}

export interface ConnectionSettings {
  readonly target: SmtpTarget;
  readonly timeouts: ConnectionTimeouts;
  readonly maxMessages: number;
}

export interface ConnectionEvents {
  /** The connection can take another message now. */
  available(connection: SmtpConnection): void;
  /** A connection that had been ready is gone; forget it. Not called when `open()` rejects. */
  closed(connection: SmtpConnection): void;
}

export const CONNECTION_STATE = {
  opening: 'opening',
  ready: 'ready',
  closing: 'closing',
  closed: 'closed',
} as const;
export type ConnectionState = (typeof CONNECTION_STATE)[keyof typeof CONNECTION_STATE];

/**
 * Transactions in flight on one connection. The 354 wait already caps it at about two in
 * practice; the limit only matters against a server that stalls final replies.
 */
const MAX_PIPELINE_DEPTH = 16;
/** Below this, a write is flushed at once and the final reply's clock needs no restart. */
const LARGE_DATA_BYTES = 64 * 1024;

type Settle = (result: SmtpResult) => void;

interface Transaction {
  readonly prepared: PreparedTransaction;
  readonly settle: Settle;
  mailAccepted: boolean;
  /** The MAIL or RCPT refusal that decides the result, once there is one. */
  rejection: SmtpReply | null;
}

export class SmtpConnection {
  readonly #settings: ConnectionSettings;
  readonly #events: ConnectionEvents;
  readonly #label: string;
  #state: ConnectionState = CONNECTION_STATE.opening;
  #channel: SmtpChannel | null = null;
  #capabilities: Capabilities = NO_CAPABILITIES;
  readonly #inFlight = new Set<Transaction>();
  #started = 0;
  /** A DATA command is out and its 354 not back: nothing else may be written until it is. */
  #awaitingGoAhead = false;
  #retiring = false;
  #idleTimer: NodeJS.Timeout | null = null;
  #resolveClosed: () => void = () => {};
  readonly #closed = new Promise<void>((resolve) => {
    this.#resolveClosed = resolve;
  });

  constructor(settings: ConnectionSettings, events: ConnectionEvents) {
    this.#settings = settings;
    this.#events = events;
    this.#label = `${settings.target.host}:${settings.target.port}`;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Transactions started and not yet settled. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  canTake(): boolean {
    if (this.#state !== CONNECTION_STATE.ready || this.#retiring || this.#channel === null) return false;
    if (this.#started >= this.#settings.maxMessages) return false;
    if (this.#capabilities.pipelining) return !this.#awaitingGoAhead && this.#inFlight.size < MAX_PIPELINE_DEPTH;
    return this.#inFlight.size === 0 && this.#channel.pending === 0;
  }

  /** Connects and runs the handshake; rejects with the `SmtpFailure` that stopped it. */
  async open(): Promise<void> {
    const { target, timeouts } = this.#settings;
    try {
      let socket = await connectTcp(target.host, target.port, timeouts.connect);
      if (target.secure) socket = await upgradeToTls(socket, target.host, target.tls ?? {}, timeouts.connect);
      const channel = new SmtpChannel(socket, this.#label, (failure) => this.#onFailure(failure));
      this.#channel = channel;
      this.#capabilities = await handshake(channel, target, {
        greeting: timeouts.greeting,
        command: timeouts.command,
        tls: timeouts.connect,
      });
    } catch (error) {
      const failure = SmtpFailure.from(error, `connecting to ${this.#label} failed`);
      this.#channel?.fail(failure);
      this.#state = CONNECTION_STATE.closed;
      this.#resolveClosed();
      throw failure;
    }
    this.#state = CONNECTION_STATE.ready;
    if (this.#retiring) this.#sendQuit();
    else this.#armIdle();
  }

  /** Starts a transaction for `message`; `settle` is called exactly once with its result. */
  take(message: SmtpEnvelopeMessage, settle: Settle): void {
    const channel = this.#channel;
    if (channel === null || !this.canTake()) {
      settle({ code: 0, reply: `internal error: connection to ${this.#label} cannot take a message now` });
      return;
    }
    let preparation: Preparation;
    try {
      preparation = prepareTransaction(message, this.#capabilities);
    } catch (error) {
      settle(SmtpFailure.from(error, 'internal error preparing the message').toResult());
      return;
    }
    if (!preparation.ok) {
      settle(preparation.refusal);
      return;
    }
    this.#clearIdle();
    const transaction: Transaction = { prepared: preparation.transaction, settle, mailAccepted: false, rejection: null };
    this.#inFlight.add(transaction);
    this.#started += 1;
    const { mailCommand, rcptCommand } = transaction.prepared;
    if (this.#capabilities.pipelining) {
      this.#awaitingGoAhead = true;
      channel.write(`${mailCommand}${rcptCommand}DATA\r\n`);
      channel.expect(this.#mailWaiter(channel, transaction));
      channel.expect(this.#rcptWaiter(channel, transaction));
      channel.expect(this.#dataWaiter(channel, transaction));
    } else {
      channel.write(mailCommand);
      channel.expect(this.#mailWaiter(channel, transaction));
    }
  }

  /** Lets in-flight transactions finish, then QUITs. Resolves once the socket is closed. */
  quit(): Promise<void> {
    this.#retiring = true;
    if (this.#state === CONNECTION_STATE.ready && this.#inFlight.size === 0) this.#sendQuit();
    return this.#closed;
  }

  #mailWaiter(channel: SmtpChannel, transaction: Transaction): ReplyWaiter {
    return {
      timeoutMs: this.#settings.timeouts.command,
      what: 'the reply to MAIL FROM',
      onReply: (reply) => {
        if (reply.positive) transaction.mailAccepted = true;
        else transaction.rejection = reply;
        if (this.#capabilities.pipelining) return;
        if (!reply.positive) {
          this.#abandon(channel, transaction);
          return;
        }
        channel.write(transaction.prepared.rcptCommand);
        channel.expect(this.#rcptWaiter(channel, transaction));
      },
    };
  }

  #rcptWaiter(channel: SmtpChannel, transaction: Transaction): ReplyWaiter {
    return {
      timeoutMs: this.#settings.timeouts.command,
      what: 'the reply to RCPT TO',
      onReply: (reply) => {
        if (!reply.positive) transaction.rejection ??= reply;
        if (this.#capabilities.pipelining) return;
        if (!reply.positive) {
          this.#abandon(channel, transaction);
          return;
        }
        this.#awaitingGoAhead = true;
        channel.write('DATA\r\n');
        channel.expect(this.#dataWaiter(channel, transaction));
      },
    };
  }

  #dataWaiter(channel: SmtpChannel, transaction: Transaction): ReplyWaiter {
    return {
      timeoutMs: this.#settings.timeouts.command,
      what: 'the reply to DATA',
      onReply: (reply) => {
        this.#awaitingGoAhead = false;
        if (reply.code !== 354) {
          transaction.rejection ??= reply;
          this.#abandon(channel, transaction);
          return;
        }
        if (transaction.rejection !== null) {
          // An invitation to send data for a transaction the server refused: its idea of the
          // session differs from ours, so nothing it says next can be matched to a command.
          this.#settle(transaction, resultOf(transaction.rejection));
          channel.fail(SmtpFailure.noReply(`${this.#label} answered 354 to DATA after refusing MAIL FROM or RCPT TO`));
          return;
        }
        const final: ReplyWaiter = {
          timeoutMs: this.#settings.timeouts.data,
          what: 'the reply to the message data',
          onReply: (finalReply) => this.#settle(transaction, resultOf(finalReply)),
        };
        channel.expect(final);
        const { data } = transaction.prepared;
        // The data clock should run from when the bytes left, not from when they were queued.
        if (data.length >= LARGE_DATA_BYTES) channel.write(data, () => channel.restartClock(final));
        else channel.write(data);
        this.#notifyAvailable();
      },
    };
  }

  /** Ends a transaction refused before its data: RSET first, so nothing is written ahead of it. */
  #abandon(channel: SmtpChannel, transaction: Transaction): void {
    if (transaction.mailAccepted) {
      channel.write('RSET\r\n');
      channel.expect({
        timeoutMs: this.#settings.timeouts.command,
        what: 'the reply to RSET',
        onReply: (reply) => {
          if (!reply.positive) channel.fail(SmtpFailure.noReply(`${this.#label} refused RSET: ${reply.text}`));
          else this.#notifyAvailable();
        },
      });
    }
    const rejection = transaction.rejection;
    this.#settle(transaction, rejection === null ? { code: 0, reply: 'internal error: transaction abandoned without a reply' } : resultOf(rejection));
  }

  #settle(transaction: Transaction, result: SmtpResult): void {
    if (!this.#inFlight.delete(transaction)) return;
    transaction.settle(result);
    if (this.#inFlight.size === 0 && this.#state === CONNECTION_STATE.ready) {
      if (this.#retiring || this.#started >= this.#settings.maxMessages) {
        this.#sendQuit();
        return;
      }
      this.#armIdle();
    }
    this.#notifyAvailable();
  }

  #notifyAvailable(): void {
    if (this.canTake()) this.#events.available(this);
  }

  #onFailure(failure: SmtpFailure): void {
    // While opening, open() itself rejects with the failure; nothing is in flight yet.
    if (this.#state === CONNECTION_STATE.opening) return;
    const unfinished = [...this.#inFlight];
    this.#inFlight.clear();
    for (const transaction of unfinished) {
      // A refusal already received decided that message; the failure decides the rest.
      transaction.settle(transaction.rejection === null ? failure.toResult() : resultOf(transaction.rejection));
    }
    this.#markClosed();
  }

  #sendQuit(): void {
    const channel = this.#channel;
    if (this.#state !== CONNECTION_STATE.ready || channel === null) return;
    this.#state = CONNECTION_STATE.closing;
    this.#clearIdle();
    channel
      .request('QUIT', this.#settings.timeouts.command, 'the reply to QUIT')
      .then(
        () => channel.end(),
        () => undefined,
      )
      .finally(() => this.#markClosed());
  }

  #markClosed(): void {
    if (this.#state === CONNECTION_STATE.closed) return;
    this.#state = CONNECTION_STATE.closed;
    this.#clearIdle();
    this.#resolveClosed();
    this.#events.closed(this);
  }

  #armIdle(): void {
    this.#clearIdle();
    const idle = this.#settings.timeouts.idle;
    if (idle <= 0) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      this.#retiring = true;
      if (this.#inFlight.size === 0) this.#sendQuit();
    }, idle);
    this.#idleTimer.unref();
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

function resultOf(reply: SmtpReply): SmtpResult {
  return { code: reply.code, reply: reply.text };
}
