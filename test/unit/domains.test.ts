/**
 * Sending domains without I/O: name and selector rules, the records a domain publishes and where
 * they point, TXT splitting, and sealing DKIM private keys under the master key.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { domainSettings } from '../../src/cli/domain-setup.js';
import { loadConfig, type ConfigSources } from '../../src/config/load.js';
import { normaliseDomainName, normaliseSelector } from '../../src/core/domain-name.js';
import { MessageSigner, SenderNotVerifiedError } from '../../src/engine/message-signer.js';
import { composeKeySources } from '../../src/mime/dkim-keys.js';
import { DkimSignerPool } from '../../src/mime/dkim-pool.js';
import { createKeySealer, generateDomainKey, publicKeyOfPem } from '../../src/services/domain-keys.js';
import { domainRecords, recordTargets, txtStrings, zoneLine } from '../../src/services/domain-records.js';
import type { DomainKey } from '../../src/store/store.js';

const key = (over: Partial<DomainKey> = {}): DomainKey => ({
  id: 'dkey_1', domainId: 'dom_1', selector: 's1', algorithm: 'rsa', publicKey: 'PUB', state: 'active',
  createdAt: '2025-01-01T00:00:00.000Z', activatedAt: '2025-01-01T00:00:00.000Z', retiredAt: null, ...over,
});

describe('domain names', () => {
  it('are lower-cased, lose a trailing dot and become A-labels', () => {
    expect(normaliseDomainName(' Mail.Example.COM. ')).toEqual({ ok: true, name: 'mail.example.com' });
    expect(normaliseDomainName('bücher.de')).toEqual({ ok: true, name: 'xn--bcher-kva.de' });
  });

  it.each([
    ['', 'must not be empty'],
    ['localhost', 'at least two labels'],
    ['user@example.com', 'not a domain name'],
    ['https://example.com', 'not a domain name'],
    ['-bad.example.com', 'invalid label'],
    ['exa_mple.com', 'invalid label'],
    ['10.0.0.1', 'an address'],
    [`${'a'.repeat(64)}.com`, 'invalid label'],
  ])('refuse %j with a reason', (input, reason) => {
    const checked = normaliseDomainName(input);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.reason).toContain(reason);
  });

  it('take selectors of DNS labels with underscores', () => {
    expect(normaliseSelector('S2025_a')).toEqual({ ok: true, name: 's2025_a' });
    expect(normaliseSelector('a.b')).toEqual({ ok: true, name: 'a.b' });
    expect(normaliseSelector('bad selector').ok).toBe(false);
    expect(normaliseSelector('x;y=1').ok).toBe(false);
  });
});

describe('the records a domain publishes', () => {
  it('point the return path and SPF at the bounce domain, tracking at the public URL', () => {
    const targets = recordTargets({ bounceDomain: 'Bounce.Herald.Net', heloName: 'mta.herald.net', publicUrl: 'https://api.herald.net/', hostname: 'box' });
    expect(targets).toEqual({ returnPathHost: 'bounce.herald.net', spfInclude: 'bounce.herald.net', trackingHost: 'api.herald.net' });
    expect(recordTargets({ returnPathHost: 'rp.herald.net', bounceDomain: 'b.herald.net', hostname: 'box' }).returnPathHost).toBe('rp.herald.net');
    expect(recordTargets({ heloName: 'mta.herald.net', hostname: 'box' })).toEqual({
      returnPathHost: 'mta.herald.net', spfInclude: 'mta.herald.net', trackingHost: 'mta.herald.net',
    });
    expect(recordTargets({ hostname: 'box.local' }).returnPathHost).toBe('box.local');
  });

  it('lists DKIM, SPF and the return path as required, DMARC and tracking as advice', () => {
    const records = domainRecords({ name: 'example.com', keys: [key()] }, recordTargets({ heloName: 'mta.herald.net', hostname: 'x' }));
    expect(records.map((r) => [r.purpose, r.type, r.name, r.required])).toEqual([
      ['dkim', 'TXT', 's1._domainkey.example.com', true],
      ['spf', 'TXT', 'example.com', true],
      ['return_path', 'CNAME', 'bounces.example.com', true],
      ['dmarc', 'TXT', '_dmarc.example.com', false],
      ['tracking', 'CNAME', 'track.example.com', false],
    ]);
    expect(records[0]?.value).toBe('v=DKIM1; k=rsa; p=PUB');
    expect(records[1]?.value).toBe('v=spf1 include:mta.herald.net ~all');
    expect(records[2]?.value).toBe('mta.herald.net');
    expect(records[3]?.value).toBe('v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com');
  });

  it('publish a pending key beside the active one during a rotation; retired keys are not listed', () => {
    const records = domainRecords(
      { name: 'example.com', keys: [key(), key({ id: 'dkey_2', selector: 's2', algorithm: 'ed25519', state: 'pending' }), key({ id: 'dkey_0', selector: 's0', state: 'retired' })] },
      recordTargets({ hostname: 'h.example.net' }),
    );
    const dkim = records.filter((r) => r.purpose.startsWith('dkim'));
    expect(dkim.map((r) => [r.purpose, r.name, r.required])).toEqual([
      ['dkim', 's1._domainkey.example.com', true],
      ['dkim_next', 's2._domainkey.example.com', false],
    ]);
    expect(dkim[1]?.value).toBe('v=DKIM1; k=ed25519; p=PUB');
  });

  it('split long TXT values into strings of at most 255 characters in the zone line', () => {
    const value = `v=DKIM1; k=rsa; p=${'A'.repeat(392)}`;
    expect(txtStrings(value).map((s) => s.length)).toEqual([255, value.length - 255]);
    expect(txtStrings(value).join('')).toBe(value);
    const line = zoneLine({ type: 'TXT', name: 's1._domainkey.example.com', value });
    expect(line).toMatch(/^s1\._domainkey\.example\.com\. 3600 IN TXT \( "v=DKIM1; k=rsa; p=A+" "A+" \)$/);
    expect(zoneLine({ type: 'CNAME', name: 'bounces.example.com', value: 'mta.herald.net' })).toBe('bounces.example.com. 3600 IN CNAME mta.herald.net.');
  });
});

describe('sealing DKIM private keys', () => {
  const binding = { keyId: 'dkey_1', domain: 'example.com', selector: 's1' };

  it('opens what it sealed, and the public key matches the private one', async () => {
    const sealer = createKeySealer(randomBytes(32));
    const generated = await generateDomainKey('ed25519');
    const sealed = sealer.seal(generated.privatePem, binding);
    expect(sealed.ciphertext).not.toContain('PRIVATE KEY');
    expect(Buffer.from(sealed.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(sealed.tag, 'base64')).toHaveLength(16);
    expect(sealed.masterKeyId).toBe(sealer.masterKeyId);
    const opened = sealer.open(sealed, binding);
    expect(opened).toBe(generated.privatePem);
    expect(publicKeyOfPem(opened)).toBe(generated.publicKey);
  });

  it('makes RSA-2048 keys by default size', async () => {
    const generated = await generateDomainKey('rsa');
    expect(generated.privatePem).toContain('BEGIN PRIVATE KEY');
    // SPKI DER of a 2048-bit RSA key is 294 bytes: 392 base64 characters.
    expect(generated.publicKey).toHaveLength(392);
  });

  it('derives the same key from the same master key, each seal with its own IV', () => {
    const master = randomBytes(32);
    const a = createKeySealer(master);
    const b = createKeySealer(Buffer.from(master));
    expect(a.masterKeyId).toBe(b.masterKeyId);
    const one = a.seal('pem', binding);
    const two = a.seal('pem', binding);
    expect(one.iv).not.toBe(two.iv);
    expect(b.open(one, binding)).toBe('pem');
  });

  it('refuses another master key, by fingerprint, with a clear error', () => {
    const sealed = createKeySealer(randomBytes(32)).seal('pem', binding);
    expect(() => createKeySealer(randomBytes(32)).open(sealed, binding)).toThrow(/sealed with another master key/);
  });

  it('refuses a ciphertext moved to another key or altered (GCM associated data and tag)', () => {
    const sealer = createKeySealer(randomBytes(32));
    const sealed = sealer.seal('pem', binding);
    expect(() => sealer.open(sealed, { ...binding, selector: 's2' })).toThrow(/does not open/);
    expect(() => sealer.open(sealed, { ...binding, domain: 'evil.example' })).toThrow(/does not open/);
    const flipped = Buffer.from(sealed.ciphertext, 'base64');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(() => sealer.open({ ...sealed, ciphertext: flipped.toString('base64') }, binding)).toThrow(/does not open/);
  });

  it('needs a master key of at least 32 bytes', () => {
    expect(() => createKeySealer(randomBytes(16))).toThrow(/at least 32 bytes/);
  });
});

describe('composed DKIM key sources', () => {
  it('give every source’s keys for a domain, each selector once, the first source winning', () => {
    const k = (selector: string, privateKey: string) => ({ domain: 'example.com', selector, algorithm: 'rsa-sha256' as const, privateKey });
    const configured = { keysFor: (d: string) => (d === 'example.com' ? [k('s1', 'config')] : []) };
    const stored = { keysFor: (d: string, w: string) => (d === 'example.com' && w === 'ws_a' ? [k('s1', 'stored'), k('s2', 'stored')] : []) };
    const both = composeKeySources(configured, stored);
    expect(both.keysFor('example.com', 'ws_a').map((key) => `${key.selector}:${key.privateKey}`)).toEqual(['s1:config', 's2:stored']);
    // Another workspace gets the configured (server-wide) keys, not ws_a's.
    expect(both.keysFor('example.com', 'ws_b').map((key) => `${key.selector}:${key.privateKey}`)).toEqual(['s1:config']);
    expect(both.keysFor('other.org', 'ws_a')).toEqual([]);
  });
});

describe('the From-domain policy from the settings', () => {
  const settingsOf = (flags: NonNullable<ConfigSources['flags']>, env: NodeJS.ProcessEnv = {}) => domainSettings(loadConfig({ flags, env }));

  it('checks From domains when the process really delivers', () => {
    expect(settingsOf({ relay: 'smtp://127.0.0.1:2525' }).allowUnverified).toBe(false);
    expect(settingsOf({ deliver: 'mx' }).allowUnverified).toBe(false);
    // An API node does not know where its workers deliver: it checks unless told it only captures.
    expect(settingsOf({ role: 'api' }).allowUnverified).toBe(false);
  });

  it('accepts any From domain when the process only captures, or with --allow-unverified / HERALD_ALLOW_UNVERIFIED=1', () => {
    expect(settingsOf({}).allowUnverified).toBe(true);
    expect(settingsOf({ role: 'api', deliver: 'capture' }).allowUnverified).toBe(true);
    expect(settingsOf({ deliver: 'mx', allowUnverified: true }).allowUnverified).toBe(true);
    expect(settingsOf({ deliver: 'mx' }, { HERALD_ALLOW_UNVERIFIED: '1' }).allowUnverified).toBe(true);
    expect(settingsOf({ deliver: 'mx' }, { HERALD_ALLOW_UNVERIFIED: '0' }).allowUnverified).toBe(false);
  });

  it('vouches for the domains of --dkim-key, and points records at the configured hosts', () => {
    const settings = settingsOf({ deliver: 'mx', dkimKey: ['Example.COM:s1:/k.pem', 'example.com:s2:/k2.pem', 'news.example.org:s:/k3.pem'], returnPathHost: 'rp.herald.net' });
    expect(settings.operatorDomains).toEqual(['example.com', 'news.example.org']);
    expect(settings.targets.returnPathHost).toBe('rp.herald.net');
  });

  it('refuses a master key shorter than 32 characters', () => {
    expect(() => loadConfig({ env: { HERALD_MASTER_KEY: 'short' } })).toThrow(/masterKey.*at least 32 characters/);
  });
});

describe('a signer whose pool is made on demand', () => {
  it('starts no signing threads until a message has a key, and closes cleanly without them', async () => {
    let made = 0;
    const signer = new MessageSigner(() => {
      made += 1;
      return new DkimSignerPool({ threads: 1 });
    }, { keysFor: () => [] });
    const message = { id: 'msg_1', sender: 'a@example.com', recipient: 'b@example.org', raw: 'From: a@example.com\r\n\r\nhi\r\n' };
    expect(await signer.sign(message, 'example.com', 'ws_a')).toBe(message);
    expect(made).toBe(0);
    await signer.close();
  });
});

describe('a signer with a sender check', () => {
  const message = { id: 'msg_1', sender: 'a@example.com', recipient: 'b@example.org', raw: 'From: a@example.com\r\n\r\nhi\r\n' };
  const verified = new Set(['ws_a example.com']);
  const senders = { verifies: (d: string, w: string) => verified.has(`${w} ${d}`), refresh: () => Promise.resolve() };

  it('refuses mail whose From domain is no longer verified for its workspace, rather than sending it unsigned', async () => {
    const signer = new MessageSigner(() => new DkimSignerPool({ threads: 1 }), { keysFor: () => [] }, { senders });
    await expect(signer.sign(message, 'example.com', 'ws_b')).rejects.toBeInstanceOf(SenderNotVerifiedError);
    await expect(signer.sign(message, 'gone.example.com', 'ws_a')).rejects.toThrow(/gone\.example\.com is no longer a verified sending domain/);
    // Still verified, but its key would not open (another master key): it leaves unsigned, as documented.
    expect(await signer.sign(message, 'example.com', 'ws_a')).toBe(message);
    // No From domain (relayed mail without a From header): nothing to check.
    expect(await signer.sign(message, null, 'ws_b')).toBe(message);
    await signer.close();
  });

  it('asks nothing of mail that has keys (configured ones vouch for their domain), and checks nothing without a check', async () => {
    const configured = { keysFor: (d: string) => (d === 'operator.example.com' ? [{ domain: d, selector: 's1', algorithm: 'rsa-sha256' as const, privateKey: 'x' }] : []) };
    const pool = { sign: (raw: string) => Promise.resolve(`DKIM-Signature: x\r\n${raw}`), close: () => Promise.resolve() } as unknown as DkimSignerPool;
    const signer = new MessageSigner(pool, configured, { senders });
    expect((await signer.sign(message, 'operator.example.com', 'ws_b')).raw).toMatch(/^DKIM-Signature/);
    const lenient = new MessageSigner(pool, { keysFor: () => [] });
    expect(await lenient.sign(message, 'anything.example.com', 'ws_b')).toBe(message);
  });
});
