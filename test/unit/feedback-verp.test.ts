import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { supersedes, transitionFor, verdictForFact } from '../../src/core/feedback-policy.js';
import { createIdSource } from '../../src/lib/random-ids.js';
import { returnPathName, returnPathOwner } from '../../src/services/domain-records.js';
import { inboundRecipient, type FeedbackSettings } from '../../src/services/feedback.js';
import { bounceAddress, bounceAddressKind, bounceToken, MAX_LOCAL_PART, readBounceToken } from '../../src/tracking/verp.js';

const key = randomBytes(32);
const ids = createIdSource();

describe('VERP and unsubscribe mailto addresses', () => {
  it('keeps the local part within the 64 characters RFC 5321 allows, in lower case only', () => {
    for (let i = 0; i < 50; i++) {
      const address = bounceAddress(key, 'verp', ids.next('message'), 'bounce.example.com') as string;
      const local = address.slice(0, address.lastIndexOf('@'));
      expect(local.length).toBeLessThanOrEqual(MAX_LOCAL_PART);
      expect(local).toMatch(/^bounces\+[0-9a-z]+-[a-z2-7]{16}$/);
      const mailto = bounceAddress(key, 'unsubscribe', ids.next('message'), 'bounce.example.com') as string;
      expect(mailto.slice(0, mailto.lastIndexOf('@')).length).toBeLessThanOrEqual(MAX_LOCAL_PART);
    }
  });

  it('reads back the message a token names, also when an MTA upper-cased it', () => {
    const id = ids.next('message');
    const token = bounceToken(key, 'verp', id) as string;
    expect(readBounceToken(key, 'verp', token)).toBe(id);
    expect(readBounceToken(key, 'verp', token.toUpperCase())).toBe(id);
  });

  it('refuses a token with a changed character, cut short, of another key or of the other purpose', () => {
    const id = ids.next('message');
    const token = bounceToken(key, 'verp', id) as string;
    const last = token.at(-1) === 'a' ? 'b' : 'a';
    expect(readBounceToken(key, 'verp', token.slice(0, -1) + last)).toBeNull();
    expect(readBounceToken(key, 'verp', token.slice(0, -1))).toBeNull();
    // (Swapped for a character it is not: replacing an `x` with `x` would change nothing.)
    expect(readBounceToken(key, 'verp', `${token.slice(0, 5)}${token[5] === 'x' ? 'y' : 'x'}${token.slice(6)}`)).toBeNull();
    expect(readBounceToken(randomBytes(32), 'verp', token)).toBeNull();
    expect(readBounceToken(key, 'unsubscribe', token)).toBeNull();
    expect(readBounceToken(key, 'verp', '')).toBeNull();
    expect(readBounceToken(key, 'verp', 'x'.repeat(5000))).toBeNull();
  });

  it('makes no address for an id Herald did not make', () => {
    expect(bounceAddress(key, 'verp', 'cnt_abc', 'bounce.example.com')).toBeNull();
    expect(bounceAddress(key, 'verp', 'msg_ABC', 'bounce.example.com')).toBeNull();
  });

  it('sorts bounce-domain addresses by local part, and every other domain as other', () => {
    expect(bounceAddressKind('bounces+abc-def@Bounce.Example.com', 'bounce.example.com')).toEqual({ kind: 'verp', token: 'abc-def' });
    expect(bounceAddressKind('unsubscribe+abc-def@bounce.example.com', 'bounce.example.com')).toEqual({ kind: 'unsubscribe', token: 'abc-def' });
    expect(bounceAddressKind('FBL@bounce.example.com', 'bounce.example.com')).toEqual({ kind: 'feedback_loop' });
    expect(bounceAddressKind('abuse@bounce.example.com', 'bounce.example.com')).toEqual({ kind: 'feedback_loop' });
    expect(bounceAddressKind('postmaster@bounce.example.com', 'bounce.example.com')).toEqual({ kind: 'other' });
    expect(bounceAddressKind('bounces+abc-def@example.com', 'bounce.example.com')).toEqual({ kind: 'other' });
    expect(bounceAddressKind('bounces+abc-def', 'bounce.example.com')).toEqual({ kind: 'other' });
  });
});

describe('which recipients the bounce listener takes', () => {
  const verified = new Set(['shop.example', 'news.example.org']);
  const returnPathDomains = { isReturnPathDomain: (host: string) => verified.has(returnPathOwner(host) ?? '') };
  const settings = (bounceDomain: string | null, withDomains = true): FeedbackSettings => ({
    key, bounceDomain, softBounceLimit: 3, softBounceWindowSeconds: 86400, ...(withDomains ? { returnPathDomains } : {}),
  });

  it('names the sending domain of a return-path host, and nothing else', () => {
    expect(returnPathOwner(returnPathName('shop.example'))).toBe('shop.example');
    expect(returnPathOwner('Bounces.Shop.Example.')).toBe('shop.example');
    expect(returnPathOwner('bounces.')).toBeNull();
    expect(returnPathOwner('shop.example')).toBeNull();
    expect(returnPathOwner('xbounces.shop.example')).toBeNull();
  });

  it('takes signed addresses at bounces.<d> of a verified domain, with or without a bounce domain', () => {
    const id = ids.next('message');
    for (const bounceDomain of ['bounce.herald.example', null]) {
      expect(inboundRecipient(settings(bounceDomain), bounceAddress(key, 'verp', id, 'bounces.shop.example')!)).toEqual({ accept: true, kind: 'verp', messageId: id });
      expect(inboundRecipient(settings(bounceDomain), bounceAddress(key, 'unsubscribe', id, 'BOUNCES.news.example.org')!)).toEqual({ accept: true, kind: 'unsubscribe', messageId: id });
    }
  });

  it('refuses other hosts, feedback-loop addresses at a return-path host, and bad tokens, with the reason', () => {
    const id = ids.next('message');
    const at = (host: string, bounceDomain: string | null = 'bounce.herald.example') => inboundRecipient(settings(bounceDomain), bounceAddress(key, 'verp', id, host)!);
    expect(at('bounces.unverified.example')).toMatchObject({ accept: false, reason: expect.stringMatching(/not an address of the bounce domain/) });
    expect(at('shop.example')).toMatchObject({ accept: false });
    expect(at('bounces.bounces.shop.example')).toMatchObject({ accept: false });
    expect(inboundRecipient(settings(null), 'fbl@bounces.shop.example')).toMatchObject({ accept: false, reason: expect.stringMatching(/bounce domain only/) });
    expect(inboundRecipient(settings('bounce.herald.example'), 'fbl@bounce.herald.example')).toEqual({ accept: true, kind: 'feedback_loop' });
    expect(inboundRecipient(settings(null), `bounces+${bounceToken(randomBytes(32), 'verp', id)!}@bounces.shop.example`)).toEqual({ accept: false, reason: 'verp token does not verify' });
    expect(inboundRecipient(settings(null, false), bounceAddress(key, 'verp', id, 'bounces.shop.example')!)).toEqual({ accept: false, reason: 'no bounce domain is configured' });
  });
});

describe('what feedback does', () => {
  it('bounces a failed recipient by its class, and ignores a delay', () => {
    expect(verdictForFact({ kind: 'bounce', action: 'failed', bounceClass: 'hard' })).toEqual({ effect: 'bounce', bounceClass: 'hard' });
    expect(verdictForFact({ kind: 'bounce', action: 'failed', bounceClass: 'soft' })).toEqual({ effect: 'bounce', bounceClass: 'soft' });
    expect(verdictForFact({ kind: 'bounce', action: 'delayed', bounceClass: 'soft' })).toMatchObject({ effect: 'ignore' });
  });

  it('takes abuse, fraud, virus and other as complaints, but not not-spam or auth-failure reports', () => {
    for (const type of ['abuse', 'fraud', 'virus', 'other']) expect(verdictForFact({ kind: 'complaint', feedbackType: type })).toEqual({ effect: 'complaint' });
    for (const type of ['not-spam', 'auth-failure', 'opt-out']) expect(verdictForFact({ kind: 'complaint', feedbackType: type })).toMatchObject({ effect: 'ignore' });
  });

  it('moves only handed-over messages: a bounce from sent or delivered, a delivery from sent', () => {
    expect(transitionFor({ effect: 'bounce', bounceClass: 'hard' })).toEqual({ from: ['sent', 'delivered'], to: 'bounced' });
    expect(transitionFor({ effect: 'complaint' })).toEqual({ from: ['sent', 'delivered'], to: null });
    expect(transitionFor({ effect: 'delivered' })).toEqual({ from: ['sent'], to: 'delivered' });
  });

  it('never replaces a stronger entry: a complaint outranks a bounce, a manual entry stands against a bounce', () => {
    expect(supersedes(undefined, 'hard_bounce')).toBe(true);
    expect(supersedes({ reason: 'unsubscribe', scope: 'broadcast' }, 'hard_bounce')).toBe(true);
    expect(supersedes({ reason: 'hard_bounce', scope: 'all' }, 'complaint')).toBe(true);
    expect(supersedes({ reason: 'complaint', scope: 'all' }, 'hard_bounce')).toBe(false);
    expect(supersedes({ reason: 'hard_bounce', scope: 'all' }, 'hard_bounce')).toBe(false);
    expect(supersedes({ reason: 'manual', scope: 'all' }, 'hard_bounce')).toBe(false);
    expect(supersedes({ reason: 'manual', scope: 'all' }, 'complaint')).toBe(true);
  });
});
