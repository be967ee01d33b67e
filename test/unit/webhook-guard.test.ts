import { describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import {
  allowlistProblem,
  blockedCategory,
  checkUrl,
  resolveAllowed,
  type AddressLookup,
} from '../../src/events/webhooks/endpoint-guard.js';

/** A resolver that answers from a table and records what it was asked. */
function fakeLookup(table: Record<string, string[]>): AddressLookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    const answers = table[host];
    if (answers === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(lookup, { asked });
}

describe('checkUrl', () => {
  it.each([
    'https://hooks.example.com/herald',
    'http://hooks.example.com:8080/in?token=abc',
    'https://hooks.example.com:65535/',
    'https://[2606:4700::1]/hook',
    'http://127.0.0.1:3000/', // shape only: addresses are judged at delivery time
  ])('accepts %s', (url) => {
    const result = checkUrl(url);
    expect(result.ok).toBe(true);
  });

  it.each([
    ['a relative URL', '/hooks', 'must be an absolute URL'],
    ['garbage', 'not a url', 'must be an absolute URL'],
    ['ftp', 'ftp://hooks.example.com/', 'must use https or http'],
    ['file', 'file:///etc/passwd', 'must use https or http'],
    ['javascript', 'javascript:alert(1)', 'must use https or http'],
    ['a user name', 'https://user@hooks.example.com/', 'must not contain credentials'],
    ['a password', 'https://user:pw@hooks.example.com/', 'must not contain credentials'],
    ['port 0', 'https://hooks.example.com:0/', 'port must be from 1 to 65535'],
    ['port 65536', 'https://hooks.example.com:65536/', 'must be an absolute URL'],
    ['no host', 'https://', 'must be an absolute URL'], // WHATWG URL never yields an empty http(s) host
    ['a huge URL', `https://hooks.example.com/${'a'.repeat(2100)}`, 'must be at most 2048 characters'],
  ])('refuses %s', (_, url, reason) => {
    const result = checkUrl(url);
    expect(result).toMatchObject({ ok: false, field: 'url' });
    if (!result.ok) expect(result.reason).toContain(reason);
  });
});

describe('blocked address ranges', () => {
  it.each([
    ['169.254.169.254', 'cloud metadata'],
    ['::ffff:169.254.169.254', 'cloud metadata'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared address space (CGNAT)'],
    ['100.127.255.255', 'shared address space (CGNAT)'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    // IPv4-mapped IPv6, in dotted and in hex form
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:c0a8:101', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'cloud metadata'],
    // IPv4 embedded in NAT64 and 6to4 addresses
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:a9fe:a9fe::1', 'cloud metadata'],
    ['2002:c0a8:0101::1', 'private'],
  ])('refuses %s (%s)', (address, category) => expect(blockedCategory(address)).toBe(category));

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '100.63.255.255', // just below CGNAT
    '100.128.0.0', // just above CGNAT
    '172.15.255.255', // just below 172.16/12
    '172.32.0.0', // just above
    '169.253.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808', // NAT64 of a public address
    '2002:808:808::1', // 6to4 of a public address
  ])('lets public %s through', (address) => expect(blockedCategory(address)).toBeNull());
});

describe('resolveAllowed', () => {
  const lookup = fakeLookup({
    'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'],
    'internal.example.com': ['10.0.0.1'],
    'mixed.example.com': ['93.184.216.34', '192.168.0.5'],
    'localhost.example.com': ['127.0.0.1', '::1'],
    'mapped.example.com': ['::ffff:127.0.0.1'],
    'metadata.example.com': ['169.254.169.254'],
    'empty.example.com': [],
    'dupes.example.com': ['93.184.216.34', '93.184.216.34'],
    'bogus.example.com': ['not-an-ip'],
  });

  it('returns every address of a public host, to pin the connection to', async () => {
    await expect(resolveAllowed('hooks.example.com', { allowlist: [], lookup })).resolves.toEqual({
      ok: true,
      addresses: [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1::1', family: 6 },
      ],
    });
  });

  it.each([
    ['internal.example.com', '10.0.0.1 (private)'],
    ['localhost.example.com', '127.0.0.1 (loopback)'],
    ['mapped.example.com', '::ffff:127.0.0.1 (loopback)'],
    ['metadata.example.com', '169.254.169.254 (cloud metadata)'],
    ['mixed.example.com', '192.168.0.5 (private)'],
  ])('refuses %s', async (host, why) => {
    const result = await resolveAllowed(host, { allowlist: [], lookup });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(`${host} resolves to ${why}`);
  });

  it('lets an allowlisted range through, IPv4-mapped forms included', async () => {
    const allowlist = ['127.0.0.0/8'];
    await expect(resolveAllowed('127.0.0.1', { allowlist, lookup })).resolves.toEqual({ ok: true, addresses: [{ address: '127.0.0.1', family: 4 }] });
    await expect(resolveAllowed('mapped.example.com', { allowlist, lookup })).resolves.toMatchObject({ ok: true });
    // ::1 is not in 127.0.0.0/8, so a host that also resolves to it is still refused.
    await expect(resolveAllowed('localhost.example.com', { allowlist, lookup })).resolves.toMatchObject({ ok: false });
    await expect(resolveAllowed('localhost.example.com', { allowlist: [...allowlist, '::1'], lookup })).resolves.toMatchObject({ ok: true });
  });

  it('does not let an allowlist for one range open another', async () => {
    const result = await resolveAllowed('metadata.example.com', { allowlist: ['10.0.0.0/8'], lookup });
    expect(result).toMatchObject({ ok: false, address: '169.254.169.254' });
  });

  it('judges IP literals without a DNS lookup, brackets or not', async () => {
    const before = lookup.asked.length;
    await expect(resolveAllowed('[::1]', { allowlist: [], lookup })).resolves.toMatchObject({ ok: false, address: '::1' });
    await expect(resolveAllowed('10.0.0.1', { allowlist: [], lookup })).resolves.toMatchObject({ ok: false });
    await expect(resolveAllowed('[2606:4700::1]', { allowlist: [], lookup })).resolves.toEqual({
      ok: true,
      addresses: [{ address: '2606:4700::1', family: 6 }],
    });
    expect(lookup.asked.length).toBe(before);
  });

  it('judges URL hostnames as the URL parser normalises them (decimal, hex, mapped)', async () => {
    for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://[::ffff:127.0.0.1]/', 'http://0/']) {
      const checked = checkUrl(url);
      if (!checked.ok) throw new Error(`checkUrl refused ${url}`);
      await expect(resolveAllowed(checked.url.hostname, { allowlist: [], lookup })).resolves.toMatchObject({ ok: false });
    }
  });

  it('reports DNS failures, empty and bogus answers as refusals', async () => {
    await expect(resolveAllowed('nowhere.example.com', { allowlist: [], lookup })).resolves.toEqual({
      ok: false,
      reason: 'DNS lookup of nowhere.example.com failed: ENOTFOUND',
    });
    await expect(resolveAllowed('empty.example.com', { allowlist: [], lookup })).resolves.toMatchObject({ ok: false });
    await expect(resolveAllowed('bogus.example.com', { allowlist: [], lookup })).resolves.toMatchObject({ ok: false });
  });

  it('gives up on a resolver that never answers', async () => {
    const hanging: AddressLookup = () => new Promise(() => undefined);
    await expect(resolveAllowed('slow.example.com', { allowlist: [], lookup: hanging, timeoutMs: 20 })).resolves.toMatchObject({
      ok: false,
      reason: expect.stringContaining('timed out'),
    });
  });

  it('removes duplicate answers', async () => {
    await expect(resolveAllowed('dupes.example.com', { allowlist: [], lookup })).resolves.toEqual({
      ok: true,
      addresses: [{ address: '93.184.216.34', family: 4 }],
    });
  });

  it('refuses a malformed allowlist as a configuration error', async () => {
    await expect(resolveAllowed('hooks.example.com', { allowlist: ['10.0.0.0/33'], lookup })).rejects.toThrow(HeraldError);
    expect(allowlistProblem('10.0.0.0/8')).toBeNull();
    expect(allowlistProblem('fd00::/8')).toBeNull();
    expect(allowlistProblem('127.0.0.1')).toBeNull();
    for (const bad of ['10.0.0.0/33', '::/129', 'example.com', '10.0.0.0/-1', '10.0.0/8', '']) expect(allowlistProblem(bad)).not.toBeNull();
  });
});
