import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import {
  SECRET_PREFIX,
  generateSecret,
  secretProblem,
  sign,
  verify,
} from '../../src/events/webhooks/signature.js';

const secretArb = fc.uint8Array({ minLength: 24, maxLength: 64 }).map((bytes) => SECRET_PREFIX + Buffer.from(bytes).toString('base64'));
// Standard Webhooks ids are opaque strings; keep them printable like ours (msg_…).
const idArb = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/);
const bodyArb = fc.oneof(fc.json(), fc.string({ unit: 'grapheme', maxLength: 2000 }));

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('secrets', () => {
  it('are whsec_ plus base64 of the random bytes', () => {
    const secret = generateSecret(randomBytes);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(secretProblem(secret)).toBeNull();
  });
  it('use the bytes from the random source they are given', () => {
    expect(generateSecret((n) => Buffer.alloc(n, 1), 24)).toBe(`whsec_${Buffer.alloc(24, 1).toString('base64')}`);
  });
  it.each([23, 65, 1.5])('refuse to generate %s bytes', (bytes) => {
    expect(() => generateSecret(randomBytes, bytes)).toThrow(HeraldError);
  });
  it.each([
    ['no prefix', Buffer.alloc(32).toString('base64')],
    ['not base64', 'whsec_!!!!'],
    ['too short', `whsec_${Buffer.alloc(23).toString('base64')}`],
    ['too long', `whsec_${Buffer.alloc(65).toString('base64')}`],
    ['empty', 'whsec_'],
  ])('are refused when %s', (_, secret) => expect(secretProblem(secret)).not.toBeNull());
});

describe('signing', () => {
  it('verifies with the standardwebhooks reference library for random bodies, ids and secrets', () => {
    fc.assert(
      fc.property(idArb, bodyArb, secretArb, (id, body, secret) => {
        const bytes = Buffer.from(body, 'utf8');
        const headers = sign({ id, timestamp: nowSeconds(), body: bytes, secrets: [secret] });
        expect(() => new Webhook(secret).verify(bytes, headers, { jsonParse: false })).not.toThrow();
        expect(() => new Webhook(secret).verify(body, headers, { jsonParse: false })).not.toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it('matches the reference library signature byte for byte', () => {
    fc.assert(
      fc.property(idArb, bodyArb, secretArb, fc.integer({ min: 0, max: 4_000_000_000 }), (id, body, secret, timestamp) => {
        const ours = sign({ id, timestamp, body, secrets: [secret] })['webhook-signature'];
        expect(ours).toBe(new Webhook(secret).sign(id, new Date(timestamp * 1000), body));
      }),
      { numRuns: 200 },
    );
  });

  it('signs with every secret during rotation, and each verifies on its own', () => {
    const [oldSecret, newSecret] = [generateSecret(randomBytes), generateSecret(randomBytes)];
    const body = Buffer.from('{"type":"message.sent","data":{"id":"msg_1"}}');
    const headers = sign({ id: 'msg_1', timestamp: nowSeconds(), body, secrets: [oldSecret, newSecret] });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(oldSecret).verify(body, headers)).toEqual({ type: 'message.sent', data: { id: 'msg_1' } });
    expect(new Webhook(newSecret).verify(body, headers)).toEqual({ type: 'message.sent', data: { id: 'msg_1' } });
    expect(verify({ headers, body, secrets: [newSecret], nowSeconds: nowSeconds() })).toEqual({ ok: true });
    expect(verify({ headers, body, secrets: [generateSecret(randomBytes)], nowSeconds: nowSeconds() })).toEqual({
      ok: false,
      reason: 'no_matching_signature',
    });
  });

  it('covers the exact bytes, including ones that are not UTF-8', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), secretArb, (raw, secret) => {
        const body = Buffer.from(raw);
        const headers = sign({ id: 'msg_x', timestamp: 1_700_000_000, body, secrets: [secret] });
        expect(verify({ headers, body, secrets: [secret], nowSeconds: 1_700_000_000 })).toEqual({ ok: true });
      }),
      { numRuns: 100 },
    );
  });

  it.each([
    ['an empty id', { id: '' }],
    ['an id with a line break', { id: 'msg\r\nX-Evil: 1' }],
    ['a fractional timestamp', { timestamp: 1.5 }],
    ['a negative timestamp', { timestamp: -1 }],
    ['no secrets', { secrets: [] }],
    ['a malformed secret', { secrets: ['whsec_short'] }],
  ])('refuses %s', (_, change) => {
    const input = { id: 'msg_1', timestamp: 1_700_000_000, body: '{}', secrets: [generateSecret(randomBytes)], ...change };
    expect(() => sign(input)).toThrow(HeraldError);
  });
});

describe('verifying', () => {
  const secret = generateSecret(randomBytes);
  const now = 1_700_000_000;
  const body = Buffer.from('{"type":"message.delivered"}');
  const headers = sign({ id: 'msg_2', timestamp: now, body, secrets: [secret] });
  const check = (overrides: Partial<Parameters<typeof verify>[0]>) =>
    verify({ headers, body, secrets: [secret], nowSeconds: now, ...overrides });

  it('accepts the untouched request, with header names in any case', () => {
    expect(check({})).toEqual({ ok: true });
    const shouted = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(check({ headers: shouted })).toEqual({ ok: true });
  });
  it('refuses a tampered body', () => {
    expect(check({ body: Buffer.from('{"type":"message.bounced"}') })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });
  it('refuses a tampered timestamp, even inside the window', () => {
    expect(check({ headers: { ...headers, 'webhook-timestamp': String(now + 1) } })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });
  it('refuses a tampered id', () => {
    expect(check({ headers: { ...headers, 'webhook-id': 'msg_3' } })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });
  it('accepts timestamps up to 5 minutes off either way', () => {
    expect(check({ nowSeconds: now + 300 })).toEqual({ ok: true });
    expect(check({ nowSeconds: now - 300 })).toEqual({ ok: true });
  });
  it('refuses timestamps outside the tolerance window', () => {
    expect(check({ nowSeconds: now + 301 })).toEqual({ ok: false, reason: 'timestamp_too_old' });
    expect(check({ nowSeconds: now - 301 })).toEqual({ ok: false, reason: 'timestamp_too_new' });
    expect(check({ nowSeconds: now + 60, toleranceSeconds: 30 })).toEqual({ ok: false, reason: 'timestamp_too_old' });
  });
  it('refuses missing headers and malformed timestamps', () => {
    expect(check({ headers: { 'webhook-id': 'msg_2', 'webhook-timestamp': String(now) } })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(check({ headers: { ...headers, 'webhook-timestamp': '17e8' } })).toEqual({ ok: false, reason: 'invalid_timestamp' });
  });
  it('ignores signatures of other versions and finds a v1 one among them', () => {
    const mixed = `v1a,${'A'.repeat(88)} ${headers['webhook-signature']}`;
    expect(check({ headers: { ...headers, 'webhook-signature': mixed } })).toEqual({ ok: true });
    const onlyOther = headers['webhook-signature'].replace('v1,', 'v2,');
    expect(check({ headers: { ...headers, 'webhook-signature': onlyOther } })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });
  it('agrees with the reference library on requests it signs', () => {
    const stamp = nowSeconds();
    const signature = new Webhook(secret).sign('msg_ref', new Date(stamp * 1000), body);
    const ref = { 'webhook-id': 'msg_ref', 'webhook-timestamp': String(stamp), 'webhook-signature': signature };
    expect(verify({ headers: ref, body, secrets: [secret], nowSeconds: stamp })).toEqual({ ok: true });
  });
});
