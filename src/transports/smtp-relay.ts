/**
 * The smart-host transport: every message goes to one SMTP server (`--relay smtp://user:pass@host:port`
 * with STARTTLS when offered, or `smtps://` for implicit TLS) over Herald's pooled, pipelining
 * SMTP client, connections reused across messages.
 */
import { hostname } from 'node:os';
import { SmtpPool, type SmtpTarget } from './smtp/smtp-pool.js';
import type { OutgoingMessage, Transport, TransportResult, TransportStats } from './transport.js';

/** Replies about the client's credentials (RFC 4954), not about a recipient. */
const AUTH_FAILURES: ReadonlySet<number> = new Set([530, 534, 535, 538]);

export interface RelayOptions {
  /** smtp:// or smtps:// URL, optionally with user:password. */
  url: string;
  maxConnections: number;
  /** Verify the relay's certificate (default true). */
  verifyTls?: boolean;
  clientName?: string;
}

/** Parses the relay URL into the client's target. */
export function relayTarget(options: RelayOptions): SmtpTarget {
  const url = new URL(options.url);
  const secure = url.protocol === 'smtps:';
  const target: SmtpTarget = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    startTls: true,
    tls: { rejectUnauthorized: options.verifyTls ?? true, servername: url.hostname },
    clientName: options.clientName ?? hostname(),
  };
  if (url.username) target.auth = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
  return target;
}

export class SmtpRelayTransport implements Transport {
  readonly name = 'smtp';
  readonly #pool: SmtpPool;

  constructor(options: RelayOptions) {
    this.#pool = new SmtpPool({ target: relayTarget(options), maxConnections: options.maxConnections, maxMessagesPerConnection: 1000 });
  }

  async send(message: OutgoingMessage): Promise<TransportResult> {
    const result = await this.#pool.send({ sender: message.sender, recipient: message.recipient, raw: message.raw });
    // The smart host refusing Herald's credentials says nothing about the recipient: a
    // configuration fault to fix and retry, never a bounce that would suppress the address.
    if (AUTH_FAILURES.has(result.code)) return { code: 0, reply: `4.7.0 the relay refused Herald's authentication: ${result.reply}` };
    return result;
  }

  stats(): TransportStats {
    return this.#pool.stats();
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
