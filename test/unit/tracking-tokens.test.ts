/**
 * Signed link tokens (tracking/tokens.ts) and the unsubscribe body rules
 * (tracking/unsubscribe-body.ts): pure functions, checked exhaustively where that is cheap.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_LENGTH, signToken, verifyToken } from '../../src/tracking/tokens.js';
import { bodyTraits, showsUnsubscribeLink, withHtmlFooter, withTextFooter, withUnsubscribeUrl } from '../../src/tracking/unsubscribe-body.js';
import { readUnsubscribeToken, unsubscribeToken, unsubscribeUrl } from '../../src/tracking/unsubscribe-links.js';

const key = randomBytes(32);
const FIELDS = ['ws_1', 'msg_1', 'ann@example.org', 'broadcast'];
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';

describe('signed tokens', () => {
  it('round-trips its fields under the v1 prefix, in URL-safe characters only', () => {
    const token = signToken(key, 'unsubscribe', FIELDS);
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(verifyToken(key, 'unsubscribe', token)).toEqual(FIELDS);
  });

  it('refuses the token for another purpose and under another key', () => {
    const token = signToken(key, 'unsubscribe', FIELDS);
    expect(verifyToken(key, 'click', token)).toBeNull();
    expect(verifyToken(randomBytes(32), 'unsubscribe', token)).toBeNull();
  });

  it('refuses every one-character change and every truncation', () => {
    const token = signToken(key, 'unsubscribe', FIELDS);
    for (let at = 0; at < token.length; at++) {
      for (const swap of ['A', 'z', '0', '.']) {
        if (token[at] === swap) continue;
        expect(verifyToken(key, 'unsubscribe', token.slice(0, at) + swap + token.slice(at + 1)), `${at}:${swap}`).toBeNull();
      }
      expect(verifyToken(key, 'unsubscribe', token.slice(0, at))).toBeNull();
    }
  });

  it('refuses a MAC spelled with stray low bits in its last character', () => {
    const token = signToken(key, 'unsubscribe', FIELDS);
    const last = token.at(-1)!;
    const sibling = ALPHABET[(ALPHABET.indexOf(last) ^ 1) % 64]!;
    expect(verifyToken(key, 'unsubscribe', token.slice(0, -1) + sibling)).toBeNull();
  });

  it('refuses garbage, other versions and over-long input without throwing', () => {
    for (const junk of ['', 'v1', 'v1..', 'v2.YQ.AAAAAAAAAAAAAAAAAAAAAA', 'v1.YQ.AAAAAAAAAAAAAAAAAAAAAA', 'v1.%%.x', 'x'.repeat(MAX_TOKEN_LENGTH + 1)]) {
      expect(verifyToken(key, 'unsubscribe', junk)).toBeNull();
    }
  });

  it('will not sign with a short key or a field holding a line feed', () => {
    expect(() => signToken(randomBytes(16), 'unsubscribe', FIELDS)).toThrow(/32 bytes/);
    expect(() => signToken(key, 'unsubscribe', ['a\nb'])).toThrow(/line feed/);
  });
});

describe('unsubscribe links', () => {
  it('name workspace, message, recipient and stream, and keep the base URL path', () => {
    const subject = { workspaceId: 'ws_1', messageId: 'msg_1', recipient: 'ann@example.org', stream: 'broadcast' as const };
    const token = unsubscribeToken(key, subject);
    expect(readUnsubscribeToken(key, token)).toEqual(subject);
    expect(readUnsubscribeToken(key, signToken(key, 'unsubscribe', ['ws_1', 'msg_1']))).toBeNull();
    expect(unsubscribeUrl('https://mail.example.com/herald/', token)).toBe(`https://mail.example.com/herald/u/${token}`);
  });
});

describe('unsubscribe footer', () => {
  it.each([
    ['the placeholder', '<a href="{{unsubscribe_url}}">Leave</a>', true],
    ['the placeholder with spaces and three braces', '<a href="{{{ unsubscribe_url }}}">x</a>', true],
    ['a link whose text says unsubscribe', '<a href="https://x.example/p">Unsubscribe</a>', true],
    ['a link whose href says unsubscribe', '<a class="f" href="https://x.example/unsubscribe?u=1"><b>Leave</b></a>', true],
    ['the word outside any link', '<p>To unsubscribe, write to us.</p>', false],
    ['no link at all', '<p>News</p>', false],
  ])('html with %s shows a link: %s', (_name, html, shows) => {
    expect(showsUnsubscribeLink({ html, text: 'Unsubscribe: {{unsubscribe_url}}' })).toBe(shows);
  });

  it('judges content without html by its text', () => {
    expect(showsUnsubscribeLink({ text: 'Leave: {{unsubscribe_url}}' })).toBe(true);
    expect(showsUnsubscribeLink({ text: 'News' })).toBe(false);
  });

  it('finds a literal placeholder and fills it, escaped in html, as is in text', () => {
    expect(bodyTraits({ html: '<a href="{{ unsubscribe_url }}">x</a>' })).toEqual({ showsLink: true, placeholder: true });
    expect(bodyTraits({ html: '<p>x</p>', text: 'Leave: {{{unsubscribe_url}}}' })).toEqual({ showsLink: false, placeholder: true });
    expect(bodyTraits({ html: '{{#if unsubscribe_url}}<a href="{{unsubscribe_url}}">x</a>{{/if}}' }).showsLink).toBe(true);
    const filled = withUnsubscribeUrl({ html: '<a href="{{unsubscribe_url}}">a</a> {{unsubscribe_url}}', text: 'Leave: {{ unsubscribe_url }}' }, 'https://x.example/u/a&b');
    expect(filled).toEqual({ html: '<a href="https://x.example/u/a&amp;b">a</a> https://x.example/u/a&amp;b', text: 'Leave: https://x.example/u/a&b' });
  });

  it('puts the html footer before </body>, escaped, and the text footer on its own line', () => {
    const html = withHtmlFooter('<html><body><p>News</p></body></html>', 'https://x.example/u/a&b');
    expect(html).toMatch(/<a href="https:\/\/x\.example\/u\/a&amp;b"[^>]*>Unsubscribe<\/a><\/div>\n<\/body><\/html>$/);
    expect(withHtmlFooter('<p>News</p>', 'https://x.example/u/t')).toMatch(/^<p>News<\/p>\n<div[^>]*>.*<\/div>\n$/);
    expect(withTextFooter('News', 'https://x.example/u/t')).toBe('News\n\nUnsubscribe: https://x.example/u/t\n');
    expect(withTextFooter('News\n', 'https://x.example/u/t')).toBe('News\n\nUnsubscribe: https://x.example/u/t\n');
  });
});
