/**
 * SSRF protection for webhook endpoints: which URLs may be registered, and which addresses a
 * delivery may connect to.
 *
 * A webhook URL is chosen by a workspace user, so without this guard Herald would POST wherever it
 * is told — its own admin port, the database, the cloud metadata service. `checkUrl` validates the
 * shape when an endpoint is saved; `resolveAllowed` runs before every delivery, resolves *all*
 * addresses of the host and refuses the delivery if *any* of them is internal (a host that mixes a
 * public and a private address is treated as hostile, not filtered). It returns the checked
 * addresses so the sender connects to exactly those, leaving no DNS lookup between check and
 * connect for a rebinding attack to slip into.
 *
 * Blocked ranges are one data table. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is matched against the
 * IPv4 rules by `node:net` BlockList itself; NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`)
 * addresses are blocked when the IPv4 address they embed is.
 *
 * Must not: open connections, cache lookups across deliveries, or read configuration itself (the
 * allowlist is passed in).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { HeraldError } from '../../core/errors.js';

export type UrlCheck = { ok: true; url: URL } | { ok: false; field: 'url'; reason: string };

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type AddressLookup = (hostname: string) => Promise<readonly { address: string; family: number }[]>;

export interface ResolveOptions {
  /** CIDRs (`127.0.0.0/8`, `fd00::/8`) or single addresses that may be reached even though internal. */
  allowlist: readonly string[];
  /** Resolves every address of a host; defaults to the system resolver (`dns.lookup`, `all: true`). */
  lookup?: AddressLookup;
  /** Gives up on resolution after this long; default 5 s. */
  timeoutMs?: number;
}

export type ResolveResult =
  | { ok: true; addresses: ResolvedAddress[] }
  | { ok: false; reason: string; address?: string };

export const MAX_URL_LENGTH = 2048;
const DEFAULT_LOOKUP_TIMEOUT_MS = 5000;

/** Why each range is refused, most specific first: the first matching category names the refusal. */
const BLOCKED_RANGES: readonly { category: string; ipv4: readonly string[]; ipv6: readonly string[] }[] = [
  { category: 'cloud metadata', ipv4: ['169.254.169.254/32'], ipv6: ['fd00:ec2::254/128'] },
  { category: 'unspecified', ipv4: ['0.0.0.0/8'], ipv6: ['::/128'] },
  { category: 'loopback', ipv4: ['127.0.0.0/8'], ipv6: ['::1/128'] },
  { category: 'private', ipv4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], ipv6: [] },
  { category: 'shared address space (CGNAT)', ipv4: ['100.64.0.0/10'], ipv6: [] },
  { category: 'link-local', ipv4: ['169.254.0.0/16'], ipv6: ['fe80::/10'] },
  { category: 'unique-local', ipv4: [], ipv6: ['fc00::/7', 'fec0::/10'] },
  { category: 'multicast', ipv4: ['224.0.0.0/4'], ipv6: ['ff00::/8'] },
  { category: 'broadcast', ipv4: ['255.255.255.255/32'], ipv6: [] },
  {
    category: 'reserved',
    ipv4: ['192.0.0.0/24', '192.0.2.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '240.0.0.0/4'],
    ipv6: ['::/96', '64:ff9b:1::/48', '100::/64', '2001::/32', '2001:db8::/32'],
  },
];

function splitCidr(cidr: string): { network: string; prefix: number; type: 'ipv4' | 'ipv6' } | null {
  const slash = cidr.indexOf('/');
  const network = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(network);
  if (family === 0 || network.includes('%')) return null;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > max) return null;
  return { network, prefix, type: family === 4 ? 'ipv4' : 'ipv6' };
}

/** `a.b.c.d/n` as the IPv6 subnet that embeds it `shift` bits from the top, under `head`. */
function embedded(head: string, shift: number, network: string, prefix: number): [string, number] {
  const [a = 0, b = 0, c = 0, d = 0] = network.split('.').map(Number);
  const hi = ((a << 8) | b).toString(16);
  const lo = ((c << 8) | d).toString(16);
  return shift === 96 ? [`${head}::${hi}:${lo}`, 96 + prefix] : [`${head}:${hi}:${lo}::`, shift + prefix];
}

function buildBlockedLists(): { category: string; list: BlockList }[] {
  return BLOCKED_RANGES.map(({ category, ipv4, ipv6 }) => {
    const list = new BlockList();
    for (const cidr of [...ipv4, ...ipv6]) {
      const parsed = splitCidr(cidr);
      if (parsed === null) throw new Error(`bad built-in range ${cidr}`);
      list.addSubnet(parsed.network, parsed.prefix, parsed.type);
      if (parsed.type === 'ipv4') {
        list.addSubnet(...embedded('64:ff9b', 96, parsed.network, parsed.prefix), 'ipv6');
        list.addSubnet(...embedded('2002', 16, parsed.network, parsed.prefix), 'ipv6');
      }
    }
    return { category, list };
  });
}

const BLOCKED_LISTS = buildBlockedLists();

/** The category of internal address `address` belongs to, or null for a public address. */
export function blockedCategory(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { category, list } of BLOCKED_LISTS) if (list.check(address, type)) return category;
  return null;
}

/** Why an allowlist entry is malformed, for configuration validation; null when it is fine. */
export function allowlistProblem(entry: string): string | null {
  return splitCidr(entry) === null ? `"${entry}" is not an IP address or CIDR` : null;
}

function buildAllowlist(entries: readonly string[]): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const parsed = splitCidr(entry);
    if (parsed === null) {
      throw new HeraldError('invalid_config', { field: `webhooks.allowlist[${i}]`, reason: allowlistProblem(entry) ?? '' });
    }
    list.addSubnet(parsed.network, parsed.prefix, parsed.type);
  });
  return list;
}

/**
 * Whether `input` may be saved as a webhook URL: absolute http(s), a host, no credentials, a port
 * from 1 to 65535. Plain http is allowed (receivers on private networks use it) but https is
 * recommended. Addresses are checked at delivery time, not here, because DNS answers change.
 */
export function checkUrl(input: string): UrlCheck {
  if (input.length > MAX_URL_LENGTH) return { ok: false, field: 'url', reason: `must be at most ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, field: 'url', reason: 'must be an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, field: 'url', reason: 'must use https or http' };
  if (url.username !== '' || url.password !== '') return { ok: false, field: 'url', reason: 'must not contain credentials' };
  if (url.hostname === '') return { ok: false, field: 'url', reason: 'must name a host' };
  if (url.port === '0') return { ok: false, field: 'url', reason: 'port must be from 1 to 65535' };
  return { ok: true, url };
}

/** A URL's hostname as a resolver or socket wants it: IPv6 literals without their brackets. */
export function bareHostname(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

async function lookupWithTimeout(lookup: AddressLookup, host: string, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`DNS lookup timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([lookup(host), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const systemLookup: AddressLookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * Resolves every address of `hostname` and returns them when all may be reached; an internal
 * address is refused unless an allowlist entry contains it. Never throws for DNS or address
 * problems (they are results); a malformed allowlist throws `invalid_config`.
 *
 * @example
 * const target = await resolveAllowed(url.hostname, { allowlist: config.webhooks.allowlist });
 * if (!target.ok) return fail(target.reason);
 * await deliverWebhook({ url, addresses: target.addresses, headers, body });
 */
export async function resolveAllowed(hostname: string, options: ResolveOptions): Promise<ResolveResult> {
  const allowed = buildAllowlist(options.allowlist);
  const host = bareHostname(hostname);
  let answers: readonly { address: string; family: number }[];
  if (isIP(host) !== 0) {
    answers = [{ address: host, family: isIP(host) }];
  } else {
    try {
      answers = await lookupWithTimeout(options.lookup ?? systemLookup, host, options.timeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return { ok: false, reason: `DNS lookup of ${host} failed: ${typeof code === 'string' ? code : String(error)}` };
    }
  }
  if (answers.length === 0) return { ok: false, reason: `${host} has no addresses` };

  const addresses: ResolvedAddress[] = [];
  for (const { address } of answers) {
    const family = isIP(address);
    if (family === 0) return { ok: false, reason: `resolver returned "${address}", not an IP address`, address };
    if (addresses.some((a) => a.address === address)) continue;
    if (!allowed.check(address, family === 4 ? 'ipv4' : 'ipv6')) {
      const category = blockedCategory(address);
      if (category !== null) return { ok: false, reason: `${host} resolves to ${address} (${category})`, address };
    }
    addresses.push({ address, family: family === 4 ? 4 : 6 });
  }
  return { ok: true, addresses };
}
