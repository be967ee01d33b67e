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
  /** The complete RFC 5322 message, CRLF line endings. */
  raw: string;
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
}

export interface Transport {
  readonly name: string;
  send(message: OutgoingMessage): Promise<TransportResult>;
  /** Closes pooled connections; in-flight sends finish first. */
  close(): Promise<void>;
}
