/**
 * Looks a sending domain's records up and says, for each, whether what DNS holds is what Herald
 * asked for: `verified`, `missing` (no such name or no record of the type), `mismatch` (a record
 * is there, with other content; `found` shows it) or `error` (the lookup itself failed: a timeout,
 * SERVFAIL; nothing is concluded). Owns the DNS conversation (node:dns/promises, the servers of
 * `--dns-servers`, a timeout per try); never throws from a check.
 */
import { Resolver } from 'node:dns/promises';
import { HeraldError } from '../core/errors.js';
import type { DnsRecord, RecordPurpose, RecordTargets, RecordType } from './domain-records.js';

export type RecordState = 'verified' | 'missing' | 'mismatch' | 'error';

/** What one record's check found. */
export interface RecordCheck {
  purpose: RecordPurpose;
  type: RecordType;
  name: string;
  selector?: string;
  state: RecordState;
  /** The values found at the name (TXT strings joined), for a person to compare. */
  found: string[];
  detail: string;
}

export interface DnsSettings {
  /** `ip` or `ip:port` (`--dns-servers`); default: the system's resolvers. */
  servers?: readonly string[] | undefined;
  /** Per try, ms; default 5000. */
  timeoutMs?: number | undefined;
  /** Tries per server; default 2. */
  tries?: number | undefined;
}

type Lookup = { kind: 'found'; values: string[] } | { kind: 'none'; detail: string } | { kind: 'error'; detail: string };

const NO_RECORD: Readonly<Record<string, string>> = { ENOTFOUND: 'no such name (NXDOMAIN)', ENODATA: 'no record of this type' };
const FAILURE: Readonly<Record<string, string>> = {
  ESERVFAIL: 'SERVFAIL',
  ETIMEOUT: 'the DNS server did not answer in time',
  ECONNREFUSED: 'the DNS server refused the connection',
  EREFUSED: 'the DNS server refused the query',
};

/** A resolver for the checks: the configured servers, bounded time per lookup. */
export class DnsChecker {
  readonly #dns: Resolver;

  constructor(settings: DnsSettings = {}) {
    this.#dns = new Resolver({ timeout: settings.timeoutMs ?? 5000, tries: settings.tries ?? 2 });
    if (settings.servers !== undefined && settings.servers.length > 0) {
      try {
        this.#dns.setServers([...settings.servers]);
      } catch (error) {
        throw new HeraldError('invalid_config', { field: 'dnsServers', reason: (error as Error).message }, { cause: error });
      }
    }
  }

  async #ask(run: () => Promise<string[]>): Promise<Lookup> {
    try {
      const values = await run();
      return values.length === 0 ? { kind: 'none', detail: NO_RECORD.ENODATA ?? '' } : { kind: 'found', values };
    } catch (error) {
      const code = String((error as NodeJS.ErrnoException).code ?? '');
      const none = NO_RECORD[code];
      if (none !== undefined) return { kind: 'none', detail: none };
      return { kind: 'error', detail: FAILURE[code] ?? `lookup failed (${code || (error as Error).message})` };
    }
  }

  /** TXT records, each one's strings joined (a long DKIM key comes in several). */
  txt(name: string): Promise<Lookup> {
    return this.#ask(async () => (await this.#dns.resolveTxt(name)).map((strings) => strings.join('')));
  }

  cname(name: string): Promise<Lookup> {
    return this.#ask(async () => (await this.#dns.resolveCname(name)).map(bareHost));
  }

  mx(name: string): Promise<Lookup> {
    return this.#ask(async () => (await this.#dns.resolveMx(name)).map((mx) => bareHost(mx.exchange)));
  }
}

const bareHost = (host: string): string => host.toLowerCase().replace(/\.$/, '');

/** `v=DKIM1; k=rsa; p=…` → tag map (RFC 6376 §3.2: whitespace around tags and inside values is ignored). */
function tags(record: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of record.split(';')) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    map.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).replace(/\s+/g, ''));
  }
  return map;
}

function result(record: DnsRecord, state: RecordState, found: string[], detail: string): RecordCheck {
  return {
    purpose: record.purpose,
    type: record.type,
    name: record.name,
    ...(record.selector !== undefined ? { selector: record.selector } : {}),
    state,
    found,
    detail,
  };
}

function notFound(record: DnsRecord, lookup: Exclude<Lookup, { kind: 'found' }>): RecordCheck {
  return result(record, lookup.kind === 'error' ? 'error' : 'missing', [], lookup.detail);
}

function checkDkim(record: DnsRecord, lookup: Lookup): RecordCheck {
  if (lookup.kind !== 'found') return notFound(record, lookup);
  const expected = tags(record.value);
  const keys = lookup.values.filter((value) => tags(value).has('p'));
  if (keys.length === 0) return result(record, 'mismatch', lookup.values, 'a TXT record is there, but not a DKIM key (no p= tag)');
  const match = keys.find((value) => {
    const found = tags(value);
    return found.get('p') === expected.get('p') && (found.get('k') ?? 'rsa').toLowerCase() === expected.get('k');
  });
  if (match !== undefined) return result(record, 'verified', lookup.values, 'the published key is this key');
  const empty = keys.some((value) => tags(value).get('p') === '');
  return result(record, 'mismatch', lookup.values, empty ? 'the published key is revoked (empty p=)' : 'the published key is another key; publish this value');
}

function checkSpf(record: DnsRecord, lookup: Lookup, targets: RecordTargets): RecordCheck {
  if (lookup.kind !== 'found') return notFound(record, lookup);
  const spf = lookup.values.filter((value) => /^v=spf1(\s|$)/i.test(value.trim()));
  if (spf.length === 0) return result(record, 'missing', lookup.values, 'no SPF record (v=spf1) among the TXT records');
  if (spf.length > 1) return result(record, 'mismatch', spf, `${spf.length} SPF records: receivers treat that as a permanent error; merge them into one`);
  const include = targets.spfInclude.toLowerCase();
  const terms = (spf[0] ?? '').toLowerCase().split(/\s+/);
  const covered = terms.some((term) => term.replace(/^[+?~-]/, '') === `include:${include}` || term === `redirect=${include}`);
  return covered
    ? result(record, 'verified', spf, `includes ${include}`)
    : result(record, 'mismatch', spf, `the SPF record does not include include:${include}; add it before the all term`);
}

function checkDmarc(record: DnsRecord, lookup: Lookup): RecordCheck {
  if (lookup.kind !== 'found') return { ...notFound(record, lookup), detail: `${lookup.detail}; advisory: not needed for verification, but Gmail and Yahoo require it of bulk senders` };
  const dmarc = lookup.values.filter((value) => /^v=DMARC1\s*(;|$)/i.test(value.trim()));
  if (dmarc.length === 0) return result(record, 'missing', lookup.values, 'no DMARC record (v=DMARC1); advisory');
  if (dmarc.length > 1) return result(record, 'mismatch', dmarc, `${dmarc.length} DMARC records: receivers ignore them all; keep one`);
  const policy = tags(dmarc[0] ?? '').get('p');
  if (policy === undefined || !['none', 'quarantine', 'reject'].includes(policy.toLowerCase())) {
    return result(record, 'mismatch', dmarc, 'the DMARC record has no valid p= policy (none, quarantine or reject)');
  }
  const rua = tags(dmarc[0] ?? '').has('rua') ? '' : '; add rua=mailto:… to receive aggregate reports';
  return result(record, 'verified', dmarc, `policy ${policy.toLowerCase()}${policy.toLowerCase() === 'none' ? ' (monitoring only)' : ''}${rua}`);
}

async function checkAlias(dns: DnsChecker, record: DnsRecord, allowMx: boolean): Promise<RecordCheck> {
  const cname = await dns.cname(record.name);
  const target = record.value.toLowerCase();
  if (cname.kind === 'found') {
    return cname.values.includes(target)
      ? result(record, 'verified', cname.values, `an alias of ${target}`)
      : result(record, 'mismatch', cname.values, `an alias of another host; point it at ${target}`);
  }
  if (!allowMx || cname.kind === 'error') return notFound(record, cname);
  // The other form of a return path: an MX to the same host instead of an alias.
  const mx = await dns.mx(record.name);
  if (mx.kind !== 'found') return result(record, mx.kind === 'error' ? 'error' : 'missing', [], `no CNAME, and no MX (${mx.detail})`);
  return mx.values.includes(target)
    ? result(record, 'verified', mx.values.map((host) => `MX ${host}`), `an MX to ${target} (publish SPF for it too)`)
    : result(record, 'mismatch', mx.values.map((host) => `MX ${host}`), `no CNAME, and its MX is another host; make it a CNAME to ${target}`);
}

/** Checks every record, all lookups at once; the report is in the records' order. */
export async function checkRecords(dns: DnsChecker, records: readonly DnsRecord[], targets: RecordTargets): Promise<RecordCheck[]> {
  return Promise.all(
    records.map(async (record): Promise<RecordCheck> => {
      switch (record.purpose) {
        case 'dkim':
        case 'dkim_next':
          return checkDkim(record, await dns.txt(record.name));
        case 'spf':
          return checkSpf(record, await dns.txt(record.name), targets);
        case 'dmarc':
          return checkDmarc(record, await dns.txt(record.name));
        case 'return_path':
          return checkAlias(dns, record, true);
        case 'tracking':
          return checkAlias(dns, record, false);
      }
    }),
  );
}
