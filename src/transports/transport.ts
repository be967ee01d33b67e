/**
 * The one interface every way out implements (capture, SMTP smart host, direct MX, providers).
 * A transport knows nothing of the store: it takes a composed message and reports the reply.
 */

/** One composed message to one envelope recipient. */
export interface OutgoingMessage {
  /** Herald's message id, for logs. */
  id: string;
  /** MAIL FROM. */
  sender: string;
  /** RCPT TO. */
  recipient: string;
  /** The complete RFC 5322 message, CRLF line endings, not dot-stuffed. */
  raw: string | Buffer;
}

/**
 * The receiving side's answer for this recipient. `code` is the SMTP reply code (250, 451, 550…)
 * or 0 when there was no answer at all (timeout, refused or dropped connection): the engine
 * classifies it with `core/delivery-outcome.ts`.
 */
export interface TransportResult {
  code: number;
  reply: string;
  /** Set by the capture transport: the raw message to keep in the outbox. */
  captured?: string;
  /**
   * Set when the transport did not try at all (traffic shaping held it back): milliseconds until
   * the destination has room. The engine requeues the message; it is not an attempt.
   */
  holdMs?: number;
}

/** What a transport reports about itself for the operations endpoints. */
export interface TransportStats {
  connections: number;
  queued: number;
  inFlight: number;
}

export interface Transport {
  readonly name: string;
  /** Never rejects: every failure is a result (code 0 when there was no reply at all). */
  send(message: OutgoingMessage): Promise<TransportResult>;
  stats(): TransportStats;
  /** Closes pooled connections; in-flight sends finish first. */
  close(): Promise<void>;
}
