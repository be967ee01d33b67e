import { describe, expect, it } from 'vitest';
import { isValidAddress, parseMailbox } from '../../src/core/address.js';
import { classifyBounce, enhancedStatusOf, verdictForReply } from '../../src/core/delivery-outcome.js';
import { HeraldError } from '../../src/core/errors.js';
import { canTransition } from '../../src/core/message-state.js';
import { nextAttemptAt, retryDelaySeconds } from '../../src/core/retry-policy.js';

describe('addresses', () => {
  it.each(['a@example.org', 'first.last+tag@sub.example.co.uk', 'ünïcode@exämple.de', '"quoted name"@example.org', 'x@[192.0.2.1]'])(
    'accepts %s',
    (address) => expect(isValidAddress(address)).toBe(true),
  );
  it.each(['', 'plain', '@example.org', 'a@', 'a@b', 'a..b@example.org', 'a@example..org', 'a@-x.org', 'a b@example.org', 'a@example.org\r\nBcc: b@x.org', `${'x'.repeat(65)}@example.org`, 'a@example.123'])(
    'refuses %j',
    (address) => expect(isValidAddress(address)).toBe(false),
  );
  it('parses a display name and lower-cases only the domain', () => {
    expect(parseMailbox('from', '"Shop, Inc." <Sales@Example.ORG>')).toEqual({ address: 'Sales@example.org', name: 'Shop, Inc.' });
  });
  it('names the field when a mailbox carries a line break', () => {
    expect(() => parseMailbox('reply_to[0]', 'a@example.org\nBcc: x@y.org')).toThrow(HeraldError);
    try {
      parseMailbox('reply_to[0]', 'a@example.org\nBcc: x@y.org');
    } catch (error) {
      expect(error).toMatchObject({ code: 'header_injection', field: 'reply_to[0]' });
    }
  });
});

describe('delivery outcomes', () => {
  it('treats a 2xx reply as sent', () => expect(verdictForReply(250, '250 2.0.0 Ok').status).toBe('sent'));
  it('treats a 4xx reply as deferred', () => expect(verdictForReply(451, '451 4.7.1 Try later').status).toBe('deferred'));
  it('treats no reply at all as deferred', () => expect(verdictForReply(0, 'ECONNREFUSED').status).toBe('deferred'));
  it('classifies 5.1.1 user unknown as a hard bounce', () =>
    expect(verdictForReply(550, '550 5.1.1 <a@x.org>: Recipient address rejected: User unknown')).toMatchObject({ status: 'bounced', bounceClass: 'hard', enhancedStatus: '5.1.1' }));
  it('classifies a full mailbox (5.2.2) as a soft bounce', () => expect(verdictForReply(552, '552 5.2.2 Mailbox full')).toMatchObject({ bounceClass: 'soft' }));
  it('classifies a policy block (5.7.1) as a soft bounce', () => expect(classifyBounce('550 5.7.1 blocked', '5.7.1')).toBe('soft'));
  it('classifies a null MX (5.1.10) as hard', () => expect(classifyBounce('556 5.1.10 null MX', '5.1.10')).toBe('hard'));
  it('falls back to the reply text when there is no enhanced code', () => {
    expect(classifyBounce('550 No such user here', null)).toBe('hard');
    expect(classifyBounce('554 Transaction failed', null)).toBe('soft');
  });
  it('finds the enhanced status inside a multi-line reply', () => expect(enhancedStatusOf('550-5.1.1 The email account\n550 5.1.1 does not exist')).toBe('5.1.1'));
});

describe('message states', () => {
  it('allows claimed messages to be sent and forbids resurrecting a bounce', () => {
    expect(canTransition('queued', 'sending')).toBe(true);
    expect(canTransition('sending', 'sent')).toBe(true);
    expect(canTransition('bounced', 'queued')).toBe(false);
  });
});

describe('retry policy', () => {
  const policy = { baseSeconds: 60, maxDelaySeconds: 3600, maxAgeSeconds: 86400 };
  it('doubles the step each attempt, with jitter between half and all of it', () => {
    expect(retryDelaySeconds(policy, 1, 0)).toBe(30);
    expect(retryDelaySeconds(policy, 1, 0.999999)).toBeCloseTo(60, 3);
    expect(retryDelaySeconds(policy, 3, 0)).toBe(120);
  });
  it('never waits longer than the maximum delay', () => expect(retryDelaySeconds(policy, 30, 0.99)).toBeLessThanOrEqual(3600));
  it('gives one last attempt at the expiry, then fails', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const expires = new Date('2026-01-01T00:00:10Z');
    expect(nextAttemptAt(policy, 1, now, expires, 0.5)?.toISOString()).toBe(expires.toISOString());
    expect(nextAttemptAt(policy, 2, expires, expires, 0.5)).toBeNull();
  });
});
