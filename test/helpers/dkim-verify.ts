/**
 * DKIM verification with mailauth (an independent implementation), against public keys the test
 * publishes in a map instead of DNS. Also makes key pairs in the PEM form Herald reads.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { Resolver as DnsResolver } from 'node:dns/promises';

// mailauth ships no types; this is the part of its verifier the tests use.
export interface DkimVerdict {
  status: { result: string; comment?: string };
  signingDomain?: string;
  selector?: string;
  algo?: string;
}
type Resolver = (name: string, rrtype: string) => Promise<string[][]>;
const { dkimVerify } = createRequire(import.meta.url)('mailauth/lib/dkim/verify.js') as {
  dkimVerify: (input: Buffer, options: { resolver: Resolver }) => Promise<{ results: DkimVerdict[] }>;
};

/** The TXT record that publishes `publicKey` (RFC 6376; RFC 8463 for Ed25519's raw 32 bytes). */
export function dkimRecord(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return publicKey.asymmetricKeyType === 'ed25519'
    ? `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`
    : `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

export function dkimKeyPair(type: 'rsa' | 'ed25519'): { privatePem: string; publicKey: KeyObject } {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return { privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: pair.publicKey };
}

/** Verifies every DKIM-Signature of `raw`; `records` maps `selector._domainkey.domain` to its TXT. */
export async function verifyDkim(raw: string | Buffer, records: ReadonlyMap<string, string>): Promise<DkimVerdict[]> {
  const resolver: Resolver = async (name) => {
    const record = records.get(name);
    if (record === undefined) throw Object.assign(new Error(`no TXT at ${name}`), { code: 'ENOTFOUND' });
    return [[record]];
  };
  return (await dkimVerify(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'), { resolver })).results;
}

/** Verifies every DKIM-Signature of `raw`, asking `servers` (e.g. a loopback test DNS server) for the keys. */
export async function verifyDkimWithDns(raw: string | Buffer, servers: string[]): Promise<DkimVerdict[]> {
  const dns = new DnsResolver({ timeout: 2000, tries: 1 });
  dns.setServers(servers);
  const resolver: Resolver = async (name, rrtype) => {
    if (rrtype !== 'TXT') throw Object.assign(new Error(`no ${rrtype} at ${name}`), { code: 'ENOTFOUND' });
    return dns.resolveTxt(name);
  };
  return (await dkimVerify(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'), { resolver })).results;
}
