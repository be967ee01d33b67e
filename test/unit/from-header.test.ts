/**
 * The one reading of a From header (mime/from-header.ts), shared by acceptance and the signer: the
 * mailbox of ordinary headers, and a refusal for every header that could be read two ways.
 */
import { describe, expect, it } from 'vitest';
import { MessageBuilder } from '../../src/engine/message-builder.js';
import { parseFromMailbox, readFromHeader } from '../../src/mime/from-header.js';
import type { ClaimedMessage } from '../../src/store/store.js';

describe('a From header value', () => {
  it.each([
    ['me@mine.com', 'me@mine.com', 'mine.com'],
    ['Me <me@Mine.COM>', 'me@Mine.COM', 'mine.com'],
    ['"Doe, Jane" <jane@mine.com>', 'jane@mine.com', 'mine.com'],
    ['"victim@bank.com" <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['"a \\" <x@bank.com>" <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['me@mine.com (victim@bank.com)', 'me@mine.com', 'mine.com'],
    ['(victim@bank.com <x@bank.com>) Me (a (nested) comment) <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['=?utf-8?q?J=C3=BCrgen_=40bank?= <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['=?UTF-8?B?SsO8cmdlbg==?= <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['John Q. Public <john@mine.com>', 'john@mine.com', 'mine.com'],
    ['"quoted local"@mine.com', '"quoted local"@mine.com', 'mine.com'],
    ['me@mine.com <me@mine.com>', 'me@mine.com', 'mine.com'],
    ['Jürgen <j@bücher.de>', 'j@bücher.de', 'xn--bcher-kva.de'],
  ])('%s is the mailbox %s of %s', (value, address, domain) => {
    expect(parseFromMailbox(value)).toEqual({ ok: true, address, domain });
  });

  it.each([
    ['victim@bank.com <me@mine.com>', /unquoted "@"/],
    ['=?utf-8?q?victim@bank.com?= <me@mine.com>', /unquoted "@"/],
    ['me@mine.com, victim@bank.com', /holds 2 addresses/],
    ['Me <me@mine.com>, Them <victim@bank.com>', /holds 2 addresses/],
    ['Friends: me@mine.com;', /group/],
    ['Undisclosed:;', /group/],
    ['<@bank.com:me@mine.com>', /source route/],
    ['Me <me@mine.com> <victim@bank.com>', /one display name and one <address>/],
    ['<me@mine.com> trailing', /one display name and one <address>/],
    ['Me <me@mine.com', /one display name and one <address>/],
    ['"unclosed <me@mine.com>', /unclosed quoted string/],
    ['Me (unclosed <me@mine.com>', /unclosed comment/],
    ['Me) <me@mine.com>', /stray/],
    ['me', /no address/],
    ['<>', /no address/],
    ['', /empty/],
    ['me@[192.0.2.1]', /domain/],
  ])('%s is refused', (value, reason) => {
    const parsed = parseFromMailbox(value);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toMatch(reason);
  });
});

describe('the From header of a header block', () => {
  it('is read unfolded, whatever its case', () => {
    expect(readFromHeader('To: r@x.org\r\nfrom: "Me"\r\n <me@mine.com>\r\nSubject: s')).toEqual({ kind: 'mailbox', address: 'me@mine.com', domain: 'mine.com' });
  });

  it('is none without one, and refused when there are several (a "From :" variant counts)', () => {
    expect(readFromHeader('To: r@x.org\r\nSubject: s')).toEqual({ kind: 'none' });
    expect(readFromHeader('From: me@mine.com\r\nFrom: victim@bank.com')).toMatchObject({ kind: 'invalid', reason: 'the message has 2 From headers; it must have one' });
    expect(readFromHeader('From: me@mine.com\r\nFROM : victim@bank.com')).toMatchObject({ kind: 'invalid' });
    expect(readFromHeader('From: victim@bank.com <me@mine.com>')).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^the From header has an unquoted "@"/) });
  });
});

describe('the From domain the builder gives relayed mail', () => {
  const claimed = (content: Record<string, unknown>): ClaimedMessage =>
    ({ id: 'msg_1', workspaceId: 'ws_a', contentId: 'cnt_1', sender: 'b@mine.com', recipient: 'r@x.org', content: { kind: 'raw', mailFrom: 'b@mine.com', encoding: 'utf8', ...content } }) as unknown as ClaimedMessage;

  it('is the domain acceptance approved and kept, else the header read by the same reader (never a forged display name)', async () => {
    const builder = new MessageBuilder();
    const now = new Date('2025-01-01T00:00:00Z');
    const forged = 'From: victim@bank.com <me@mine.com>\r\nTo: r@x.org\r\n\r\nhi\r\n';
    expect((await builder.build(claimed({ raw: forged, fromDomain: 'mine.com' }), now)).fromDomain).toBe('mine.com');
    // Content accepted before the approved domain was kept: read again, and a header that reads two ways signs for nothing.
    expect((await builder.build(claimed({ raw: forged }), now)).fromDomain).toBeNull();
    expect((await builder.build(claimed({ raw: 'From: Me <me@Mine.com>\r\n\r\nhi\r\n' }), now)).fromDomain).toBe('mine.com');
    expect((await builder.build(claimed({ raw: Buffer.from('From: me@mine.com\r\n\r\n\xe9\r\n', 'latin1').toString('base64'), encoding: 'base64', fromDomain: 'mine.com' }), now)).fromDomain).toBe('mine.com');
  });
});
