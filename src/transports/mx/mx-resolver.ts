/**
 * Where mail for a recipient domain goes (RFC 5321 §5.1): its MX hosts in preference order, each
 * with its addresses (A, then AAAA), or the implicit MX (the domain's own address) when it has no
 * MX records. Owns the DNS conversation and its cache, and decides which DNS outcomes are
 * permanent (NXDOMAIN, null MX, an MX into a non-public network) and which are temporary
 * (SERVFAIL, timeouts, an unreachable DNS server). Knows nothing of SMTP, and never throws or
 * rejects from `lookup()`: every outcome is an `MxLookup`.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { HeraldError } from '../../core/errors.js';
import { isNonPublicAddress } from './private-address.js';

export interface MxHost {
  /** The MX exchange name; for the implicit MX, the domain itself. */
  exchange: string;
  preference: number;
  /** IPv4 first, then IPv6; never empty. */
  addresses: string[];
  /**
   * Set when the exchange is an alias (CNAME) of another name. RFC 2181 §10.3 forbids that, but
   * refusing would bounce mail that every other MTA delivers, so it is only reported.
   */
  canonicalName?: string;
}

export type MxLookup =
  | { kind: 'hosts'; hosts: MxHost[] }
  | { kind: 'permanent'; code: number; reply: string }
  | { kind: 'temporary'; reply: string };

export interface MxResolverOptions {
  /** DNS servers as `ip` or `ip:port` (e.g. `['127.0.0.1:5353']`); default: the system's. */
  servers?: string[];
  /** Per try, ms; default 5000. */
  timeoutMs?: number;
  /** Tries per server; default 2. */
  tries?: number;
  /** Use MX hosts at loopback/private addresses and IP-literal exchanges (tests, private networks). */
  allowPrivate?: boolean;
  /** How long answers stay cached, ms; default 5 minutes, since `resolveMx` gives no TTLs. */
  cacheMs?: number;
  /** How long a temporary failure is remembered, ms; default 30 s, so a burst of sends costs one lookup. */
  temporaryCacheMs?: number;
  now?: () => number;
  /** Orders MX hosts of equal preference (RFC 5321 §5.1); `Math.random` by default. */
  random?: () => number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_TRIES = 2;
const DEFAULT_CACHE_MS = 5 * 60_000;
const DEFAULT_TEMPORARY_CACHE_MS = 30_000;
/** Bounds memory when mail goes to very many domains; older entries go first. */
const MAX_CACHE_ENTRIES = 10_000;

/** DNS error codes that are answers rather than failures; every other code is temporary. */
const DNS_ANSWERS: Readonly<Record<string, 'no-domain' | 'no-data'>> = {
  ENOTFOUND: 'no-domain', // NXDOMAIN
  ENODATA: 'no-data', // the name exists but has no record of this type
};

/** How temporary DNS failures read in replies. */
const DNS_FAILURE_TEXT: Readonly<Record<string, string>> = {
  ESERVFAIL: 'SERVFAIL',
  ETIMEOUT: 'no answer from the DNS server (timed out)',
  ECONNREFUSED: 'the DNS server refused the connection',
  EREFUSED: 'REFUSED',
  EFORMERR: 'FORMERR',
  EBADRESP: 'malformed answer',
  ECANCELLED: 'lookup cancelled',
};

type Answer<T> = { ok: true; value: T } | { ok: false; error: 'no-domain' | 'no-data' | 'temporary'; detail: string };

/** What one exchange name resolved to. */
type ExchangeOutcome =
  | { status: 'usable'; addresses: string[]; canonicalName?: string }
  | { status: 'refused'; detail: string }
  | { status: 'missing'; detail: string }
  | { status: 'temporary'; detail: string };

interface CacheEntry {
  /** `Infinity` while the lookup is running, so concurrent sends share it. */
  expiresAt: number;
  readonly lookup: Promise<MxLookup>;
}

export class MxResolver {
  readonly #dns: Resolver;
  readonly #allowPrivate: boolean;
  readonly #cacheMs: number;
  readonly #temporaryCacheMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #cache = new Map<string, CacheEntry>();

  /**
   * @example
   * const resolver = new MxResolver({ servers: ['127.0.0.1:5353'], timeoutMs: 2000 });
   * const route = await resolver.lookup('example.net');
   * if (route.kind === 'hosts') console.log(route.hosts[0]?.exchange);
   */
  constructor(options: MxResolverOptions = {}) {
    this.#dns = new Resolver({ timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, tries: options.tries ?? DEFAULT_TRIES });
    if (options.servers !== undefined && options.servers.length > 0) {
      try {
        this.#dns.setServers(options.servers);
      } catch (error) {
        throw new HeraldError('invalid_config', { field: 'resolver.servers', reason: describe(error) }, { cause: error });
      }
    }
    this.#allowPrivate = options.allowPrivate ?? false;
    this.#cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
    this.#temporaryCacheMs = options.temporaryCacheMs ?? DEFAULT_TEMPORARY_CACHE_MS;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** The route for `domain`, from the cache when fresh. Never rejects. */
  lookup(domain: string): Promise<MxLookup> {
    const key = normaliseDomain(domain);
    if (key === null) return Promise.resolve(permanent(550, `5.1.2 ${domain} is not a valid domain name`));
    const now = this.#now();
    let entry = this.#cache.get(key);
    if (entry === undefined || entry.expiresAt <= now) {
      const created: CacheEntry = { expiresAt: Number.POSITIVE_INFINITY, lookup: this.#resolve(key) };
      this.#cache.delete(key);
      this.#cache.set(key, created);
      void created.lookup.then((result) => {
        created.expiresAt = this.#now() + (result.kind === 'temporary' ? this.#temporaryCacheMs : this.#cacheMs);
      });
      this.#evict(now);
      entry = created;
    }
    // Shuffled per call, not per cache entry, so equal-preference hosts share the load.
    return entry.lookup.then((result) => (result.kind === 'hosts' ? { kind: 'hosts', hosts: this.#ordered(result.hosts) } : result));
  }

  async #resolve(domain: string): Promise<MxLookup> {
    try {
      return await this.#resolveUncached(domain);
    } catch (error) {
      return temporary(`4.4.3 DNS lookup of ${domain} failed: ${describe(error)}`);
    }
  }

  async #resolveUncached(domain: string): Promise<MxLookup> {
    const mx = await ask(() => this.#dns.resolveMx(domain));
    if (!mx.ok) {
      if (mx.error === 'no-domain') return permanent(550, `5.1.2 domain ${domain} does not exist (NXDOMAIN)`);
      if (mx.error === 'temporary') return temporary(`4.4.3 DNS lookup of MX for ${domain} failed: ${mx.detail}`);
      return this.#implicitMx(domain);
    }
    if (mx.value.length === 0) return this.#implicitMx(domain);
    const records = bestPerExchange(mx.value.filter((record) => !isRootName(record.exchange)));
    // RFC 7505 §3: "." means "no mail here"; other records beside it would be a misconfiguration
    // the sender may ignore, so only a domain with nothing but "." refuses mail.
    if (records.length === 0) return permanent(556, `5.1.10 recipient domain ${domain} has a null MX (RFC 7505)`);

    const outcomes = await Promise.all(records.map((record) => this.#resolveExchange(record.exchange)));
    const hosts: MxHost[] = [];
    let firstTemporary: string | null = null;
    let firstRefused: string | null = null;
    let firstMissing: string | null = null;
    for (const [index, outcome] of outcomes.entries()) {
      const record = records[index];
      if (record === undefined) continue;
      if (outcome.status === 'usable') {
        hosts.push(withAlias({ exchange: record.exchange, preference: record.priority, addresses: outcome.addresses }, outcome.canonicalName));
      } else if (outcome.status === 'temporary') firstTemporary ??= `${record.exchange}: ${outcome.detail}`;
      else if (outcome.status === 'refused') firstRefused ??= outcome.detail;
      else firstMissing ??= outcome.detail;
    }
    // A host that cannot be used is skipped as long as another one can take the mail.
    if (hosts.length > 0) return { kind: 'hosts', hosts };
    if (firstTemporary !== null) return temporary(`4.4.3 DNS lookup of the MX hosts of ${domain} failed: ${firstTemporary}`);
    if (firstRefused !== null) return permanent(550, `5.4.4 the MX of ${domain} is misconfigured: ${firstRefused}`);
    return permanent(550, `5.4.4 no MX host of ${domain} has an address (${firstMissing ?? 'no records'})`);
  }

  /** RFC 5321 §5.1: no MX records, so the domain's own address is the one host. */
  async #implicitMx(domain: string): Promise<MxLookup> {
    const outcome = await this.#resolveExchange(domain);
    switch (outcome.status) {
      case 'usable':
        return { kind: 'hosts', hosts: [withAlias({ exchange: domain, preference: 0, addresses: outcome.addresses }, outcome.canonicalName)] };
      case 'temporary':
        return temporary(`4.4.3 DNS lookup of ${domain} (no MX, implicit MX) failed: ${outcome.detail}`);
      case 'refused':
        return permanent(550, `5.4.4 ${domain} has no MX and is misconfigured: ${outcome.detail}`);
      case 'missing':
        return permanent(550, `5.1.2 domain ${domain} has no MX and no address records`);
    }
  }

  async #resolveExchange(name: string): Promise<ExchangeOutcome> {
    if (isIP(name) !== 0) {
      // An MX target must be a host name (RFC 5321 §5.1); a literal is refused like Exim's
      // allow_mx_to_ip default, since nothing vouches for that address.
      return this.#allowPrivate ? { status: 'usable', addresses: [name] } : { status: 'refused', detail: `MX host ${name} is an IP address, not a host name` };
    }
    const [v4, v6, alias] = await Promise.all([
      ask(() => this.#dns.resolve4(name)),
      ask(() => this.#dns.resolve6(name)),
      ask(() => this.#dns.resolveCname(name)),
    ]);
    const found = [...(v4.ok ? v4.value : []), ...(v6.ok ? v6.value : [])];
    if (!v4.ok && !v6.ok) {
      if (v4.error === 'temporary') return { status: 'temporary', detail: v4.detail };
      if (v6.error === 'temporary') return { status: 'temporary', detail: v6.detail };
      return { status: 'missing', detail: `${name}: ${v4.error === 'no-domain' ? 'NXDOMAIN' : 'no A or AAAA records'}` };
    }
    const addresses = this.#allowPrivate ? found : found.filter((address) => !isNonPublicAddress(address));
    if (addresses.length === 0) {
      return { status: 'refused', detail: `MX host ${name} resolves only to loopback, private or reserved addresses (${found.join(', ')})` };
    }
    const canonicalName = alias.ok ? alias.value[0] : undefined;
    return canonicalName === undefined ? { status: 'usable', addresses } : { status: 'usable', addresses, canonicalName };
  }

  /** Preference order, shuffled within each preference. */
  #ordered(hosts: readonly MxHost[]): MxHost[] {
    const keyed = hosts.map((host) => ({ host, tiebreak: this.#random() }));
    keyed.sort((a, b) => a.host.preference - b.host.preference || a.tiebreak - b.tiebreak);
    return keyed.map(({ host }) => host);
  }

  #evict(now: number): void {
    if (this.#cache.size <= MAX_CACHE_ENTRIES) return;
    for (const [key, entry] of this.#cache) if (entry.expiresAt <= now) this.#cache.delete(key);
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= MAX_CACHE_ENTRIES) break;
      this.#cache.delete(key);
    }
  }
}

/** Lower-case ASCII (IDNA) without the root dot, or null when it is not a domain name. */
function normaliseDomain(domain: string): string | null {
  const ascii = domainToASCII(domain.trim().replace(/\.$/, '').toLowerCase());
  return ascii.length > 0 && isIP(ascii) === 0 ? ascii : null;
}

function isRootName(exchange: string): boolean {
  return exchange === '' || exchange === '.';
}

/** One record per exchange name, the most preferred, names in canonical form. */
function bestPerExchange(records: readonly { exchange: string; priority: number }[]): { exchange: string; priority: number }[] {
  const best = new Map<string, number>();
  for (const record of records) {
    const name = record.exchange.replace(/\.$/, '').toLowerCase();
    const known = best.get(name);
    if (known === undefined || record.priority < known) best.set(name, record.priority);
  }
  return [...best].map(([exchange, priority]) => ({ exchange, priority }));
}

function withAlias(host: MxHost, canonicalName: string | undefined): MxHost {
  return canonicalName === undefined ? host : { ...host, canonicalName };
}

async function ask<T>(query: () => Promise<T>): Promise<Answer<T>> {
  try {
    return { ok: true, value: await query() };
  } catch (error) {
    const code = errorCode(error);
    const answer = code === undefined ? undefined : DNS_ANSWERS[code];
    if (answer !== undefined) return { ok: false, error: answer, detail: code ?? '' };
    return { ok: false, error: 'temporary', detail: (code === undefined ? undefined : DNS_FAILURE_TEXT[code]) ?? describe(error) };
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function permanent(code: number, reply: string): MxLookup {
  return { kind: 'permanent', code, reply };
}

function temporary(reply: string): MxLookup {
  return { kind: 'temporary', reply };
}
