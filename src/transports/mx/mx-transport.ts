/**
 * Direct delivery (`herald serve --deliver mx`): each message goes straight to the MX hosts of
 * its recipient's domain. Owns the choice of host and the failover between hosts; DNS and its
 * cache belong to `MxResolver`, the SMTP conversation to `SmtpPool` — one pool per MX address
 * and port, created on first use and reused by every message and domain that resolves there.
 *
 * Failover: MX addresses are tried in preference order. No reply at all (refused, timed out,
 * dropped, TLS failure: code 0) or 421 ("service not available, closing channel", RFC 5321
 * §3.8) moves on to the next address; any other reply — 2xx, 5xx, or a 4xx such as greylisting
 * — decides the message, because a backup MX answers for the same domain's policy and would
 * only turn a deferral into a detour. When every address fails, the last failure is the result.
 *
 * TLS is opportunistic: STARTTLS when offered, certificates not verified. Without DANE or
 * MTA-STS nothing says which certificate an MX should have, and refusing to deliver over a
 * self-signed certificate would only push the message into cleartext elsewhere.
 */
import { isIP } from 'node:net';
import { HeraldError } from '../../core/errors.js';
import { SmtpPool, type SmtpPoolOptions, type SmtpResult } from '../smtp/smtp-pool.js';
import type { OutgoingMessage, Transport, TransportResult, TransportStats } from '../transport.js';
import type { TrafficShaper } from '../shaping/traffic-shaper.js';
import { MxResolver, type MxHost, type MxResolverOptions } from './mx-resolver.js';

export interface MxTransportOptions {
  /** DNS settings; `servers` as `ip` or `ip:port`, default the system's. */
  resolver: Omit<MxResolverOptions, 'allowPrivate'>;
  /** SMTP port on every MX host; default 25 (tests use a high port, since MX records carry none). */
  port?: number;
  /** EHLO name: this host's public name, which receivers check against its reverse DNS. */
  clientName: string;
  /** Default 4. */
  maxConnectionsPerHost?: number;
  /** Deliver to MX hosts at loopback/private addresses (tests, closed networks); default false. */
  allowPrivate?: boolean;
  /** Per-step SMTP timeouts for every MX host, ms; the pool's defaults otherwise. */
  timeouts?: SmtpPoolOptions['timeouts'];
  /**
   * Limits per destination (MX provider): connections, messages per connection and per minute,
   * adapting to throttling replies. A message over a destination's budget is held, not tried.
   */
  shaper?: TrafficShaper;
  now?: () => number;
}

const DEFAULT_PORT = 25;
const DEFAULT_CONNECTIONS_PER_HOST = 4;
/** Receivers commonly cap messages per session; reconnecting now and then is cheaper than a 421. */
const MAX_MESSAGES_PER_CONNECTION = 100;
/**
 * Addresses tried per message, over all MX hosts (Postfix's smtp_mx_address_limit): a domain
 * with a dozen dead MX hosts must not hold a delivery slot for a dozen connect timeouts.
 */
const MAX_ADDRESSES_TRIED = 5;
/** A pool with no connections and no sends for this long is dropped, so one-off domains do not pile up. */
const IDLE_POOL_MS = 5 * 60_000;
const SWEEP_EVERY_MS = 60_000;

/** Replies after which the next MX address is tried instead of taking the reply as the result. */
function triesNextAddress(code: number): boolean {
  return code === 0 || code === 421;
}

interface PoolEntry {
  readonly pool: SmtpPool;
  lastUsed: number;
}

export class MxTransport implements Transport {
  readonly name = 'mx';
  readonly #resolver: MxResolver;
  readonly #port: number;
  readonly #clientName: string;
  readonly #maxConnectionsPerHost: number;
  readonly #timeouts: SmtpPoolOptions['timeouts'];
  readonly #now: () => number;
  readonly #pools = new Map<string, PoolEntry>();
  readonly #shaper: TrafficShaper | undefined;
  /**
   * Per destination, the next free send slot handed to a held message: held messages are spread
   * over the destination's rate instead of all coming back at the same moment.
   */
  readonly #nextSlot = new Map<string, number>();
  /** Sends not yet finished, so `close()` can let them finish first. */
  readonly #sending = new Set<Promise<TransportResult>>();
  /** Pools dropped for idleness and still saying QUIT. */
  readonly #retiring = new Set<Promise<void>>();
  /** Sends still waiting for DNS, reported as queued. */
  #resolving = 0;
  #lastSweep = 0;
  #closing: Promise<void> | null = null;

  /**
   * @example
   * const transport = new MxTransport({ resolver: { timeoutMs: 5000 }, clientName: 'mail.example.com' });
   * const { code, reply } = await transport.send({ id, sender: 'app@example.com', recipient: 'ann@example.net', raw });
   */
  constructor(options: MxTransportOptions) {
    const port = options.port ?? DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new HeraldError('invalid_config', { field: 'port', reason: 'must be an integer from 1 to 65535' });
    }
    // Checked here, not when the first pool is made, so a bad name stops startup instead of every send.
    if (options.clientName.length === 0 || /[\s\0]/.test(options.clientName)) {
      throw new HeraldError('invalid_config', { field: 'clientName', reason: 'must be a non-empty host name without whitespace' });
    }
    this.#port = port;
    this.#clientName = options.clientName;
    this.#maxConnectionsPerHost = options.maxConnectionsPerHost ?? DEFAULT_CONNECTIONS_PER_HOST;
    this.#timeouts = options.timeouts === undefined ? undefined : Object.freeze({ ...options.timeouts });
    this.#now = options.now ?? Date.now;
    this.#shaper = options.shaper;
    this.#resolver = new MxResolver({ now: this.#now, ...options.resolver, allowPrivate: options.allowPrivate ?? false });
  }

  /** Never rejects: DNS and SMTP failures alike come back as a result. */
  send(message: OutgoingMessage): Promise<TransportResult> {
    if (this.#closing !== null) return Promise.resolve({ code: 0, reply: '4.3.2 the mx transport is closed; not sent' });
    const sending = this.#deliver(message).catch(
      (error: unknown): TransportResult => ({ code: 0, reply: `4.3.0 mx transport failed internally: ${describe(error)}` }),
    );
    this.#sending.add(sending);
    void sending.then(() => this.#sending.delete(sending));
    return sending;
  }

  stats(): TransportStats {
    const total: TransportStats = { connections: 0, queued: this.#resolving, inFlight: 0 };
    for (const { pool } of this.#pools.values()) {
      const stats = pool.stats();
      total.connections += stats.connections;
      total.queued += stats.queued;
      total.inFlight += stats.inFlight;
    }
    return total;
  }

  /** Lets sends in progress finish (including their failover), then QUITs every connection. */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #deliver(message: OutgoingMessage): Promise<TransportResult> {
    const domain = message.recipient.slice(message.recipient.lastIndexOf('@') + 1);
    if (!message.recipient.includes('@') || domain.length === 0) {
      return { code: 550, reply: `5.1.3 recipient ${message.recipient} has no domain to deliver to` };
    }
    if (domain.startsWith('[')) {
      // Soft on purpose (5.3.x): the address may be fine, Herald just does not route by IP literal.
      return { code: 550, reply: `5.3.3 the mx transport does not deliver to address literals like ${domain}` };
    }
    this.#resolving += 1;
    const route = await this.#resolver.lookup(domain).finally(() => {
      this.#resolving -= 1;
    });
    if (route.kind === 'permanent') return { code: route.code, reply: route.reply };
    if (route.kind === 'temporary') return { code: 0, reply: route.reply };
    return this.#sendToHosts(route.hosts, message);
  }

  async #sendToHosts(hosts: readonly MxHost[], message: OutgoingMessage): Promise<TransportResult> {
    const first = hosts[0];
    if (this.#shaper === undefined || first === undefined) return this.#tryHosts(hosts, message);
    const destination = this.#shaper.destinationOf(first.exchange);
    const admission = this.#shaper.admit(destination);
    if (!admission.ok) {
      return {
        code: 0,
        reply: `4.7.0 held by traffic shaping for ${destination} (${admission.reason}); not attempted`,
        holdMs: this.#holdFor(destination, admission.retryAfterMs, admission.reason),
      };
    }
    const result = await this.#tryHosts(hosts, message);
    admission.release(result);
    return result;
  }

  async #tryHosts(hosts: readonly MxHost[], message: OutgoingMessage): Promise<TransportResult> {
    const candidates = hosts.flatMap((host) => host.addresses.map((address) => ({ host, address }))).slice(0, MAX_ADDRESSES_TRIED);
    let last: TransportResult = { code: 0, reply: '4.4.4 no MX address to try' };
    for (const [index, { host, address }] of candidates.entries()) {
      const result: SmtpResult = await this.#poolFor(host, address).send({ sender: message.sender, recipient: message.recipient, raw: message.raw });
      if (!triesNextAddress(result.code)) return { code: result.code, reply: `${result.reply} (${via(host)})` };
      const tried = index === 0 ? '' : `; ${index + 1} MX addresses tried`;
      last = { code: result.code, reply: `${result.reply} (${via(host)}${tried})` };
    }
    return last;
  }

  #poolFor(host: MxHost, address: string): SmtpPool {
    const now = this.#now();
    this.#dropIdlePools(now);
    const key = isIP(address) === 6 ? `[${address}]:${this.#port}` : `${address}:${this.#port}`;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      entry = {
        pool: new SmtpPool({
          target: {
            host: address,
            port: this.#port,
            secure: false,
            startTls: true,
            // The pool is per address, so when several MX names share one, SNI carries the first.
            tls: { rejectUnauthorized: false, servername: host.exchange },
            clientName: this.#clientName,
          },
          maxConnections: Math.min(this.#maxConnectionsPerHost, this.#limits(host).maxConnections),
          maxMessagesPerConnection: this.#limits(host).messagesPerConnection,
          ...(this.#timeouts === undefined ? {} : { timeouts: this.#timeouts }),
        }),
        lastUsed: now,
      };
      this.#pools.set(key, entry);
    }
    entry.lastUsed = now;
    return entry.pool;
  }

  /**
   * How long a held message waits. Over the rate, each held message takes the next free slot of
   * the destination's rate, so they come back spread out rather than all at once; with every
   * connection busy, a short wait with jitter, since a slot frees as soon as a send finishes.
   */
  #holdFor(destination: string, retryAfterMs: number, reason: 'rate' | 'connections'): number {
    if (reason === 'connections' || this.#shaper === undefined) return Math.round(retryAfterMs / 4 + Math.random() * retryAfterMs);
    const now = this.#now();
    const perMinute = Math.max(1, this.#shaper.limitsOf(destination).messagesPerMinute);
    const slot = Math.max(now + retryAfterMs, this.#nextSlot.get(destination) ?? 0);
    this.#nextSlot.set(destination, slot + 60_000 / perMinute);
    return slot - now;
  }

  /** The shaping limits for an MX host's destination; without a shaper, the transport's defaults. */
  #limits(host: MxHost): { maxConnections: number; messagesPerConnection: number } {
    if (this.#shaper === undefined) return { maxConnections: this.#maxConnectionsPerHost, messagesPerConnection: MAX_MESSAGES_PER_CONNECTION };
    return this.#shaper.limitsOf(this.#shaper.destinationOf(host.exchange));
  }

  #dropIdlePools(now: number): void {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [destination, slot] of this.#nextSlot) if (slot < now) this.#nextSlot.delete(destination);
    for (const [key, entry] of this.#pools) {
      const stats = entry.pool.stats();
      if (now - entry.lastUsed < IDLE_POOL_MS || stats.connections + stats.queued + stats.inFlight > 0) continue;
      this.#pools.delete(key);
      const retiring = closeQuietly(entry.pool);
      this.#retiring.add(retiring);
      void retiring.then(() => this.#retiring.delete(retiring));
    }
  }

  async #shutDown(): Promise<void> {
    await Promise.all(this.#sending);
    const pools = [...this.#pools.values()].map((entry) => entry.pool);
    this.#pools.clear();
    await Promise.all([...pools.map(closeQuietly), ...this.#retiring]);
  }
}

/** Which MX answered, for the reply text; names only, since an IP here could pass for a status code. */
function via(host: MxHost): string {
  return host.canonicalName === undefined ? `via ${host.exchange}` : `via ${host.exchange}, a CNAME for ${host.canonicalName}`;
}

function closeQuietly(pool: SmtpPool): Promise<void> {
  return pool.close().catch(() => undefined);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
