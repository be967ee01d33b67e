import fc from 'fast-check';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import {
  addressHeader,
  assertFieldName,
  assertNoLineBreak,
  customHeader,
  encodeBase64,
  encodeQuotedPrintable,
  encodeWords,
  foldLine,
  formatAddress,
  hasBareLineBreak,
  isSevenBit,
  normaliseLineBreaks,
  preferQuotedPrintable,
  unstructuredHeader,
} from '../../src/mime/encoding.js';

/** Decodes one encoded word on its own: it must hold whole characters. */
function decodeWord(word: string): string {
  const match = /^=\?utf-8\?([BQ])\?([^?]*)\?=$/.exec(word);
  if (!match) throw new Error(`not an encoded word: ${word}`);
  const [, encoding, text = ''] = match;
  const bytes =
    encoding === 'B' ? Buffer.from(text, 'base64') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

function decodeQuotedPrintable(encoded: string): string {
  const bytes = encoded.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

async function parsedSubject(headerLines: string): Promise<string | undefined> {
  return (await simpleParser(`From: a@example.org\r\n${headerLines}\r\ntext\r\n`)).subject;
}

const lines = (text: string): string[] => text.replace(/\r\n$/, '').split('\r\n');

describe('header encoded words', () => {
  it('leaves plain ASCII text as it is', () => {
    expect(unstructuredHeader('Subject', 'Your order has shipped')).toBe('Subject: Your order has shipped\r\n');
  });

  it('encodes non-ASCII text so that a parser reads it back', async () => {
    const subject = 'Grüße aus Köln — 日本語 🎉';
    const header = unstructuredHeader('Subject', subject);
    expect(header).toMatch(/^[\x20-\x7e\r\n]*$/);
    expect(await parsedSubject(header)).toBe(subject);
  });

  it('encodes text containing =? so that it is not taken for an encoded word', async () => {
    const header = unstructuredHeader('Subject', 'literally =?utf-8?q?x?=');
    expect(header).toMatch(/^Subject: =\?utf-8\?Q\?literally_=3D=3F/);
    expect(await parsedSubject(header)).toBe('literally =?utf-8?q?x?=');
  });

  it('encodes leading and trailing spaces, which parsers would otherwise trim', async () => {
    expect(await parsedSubject(unstructuredHeader('Subject', '  two spaces  '))).toBe('  two spaces  ');
  });

  it('keeps every encoded word within 75 characters and every line within 76', async () => {
    const subject = 'Ünïcödé '.repeat(40) + '中文字符'.repeat(30);
    const header = unstructuredHeader('Subject', subject);
    for (const line of lines(header)) expect(line.length).toBeLessThanOrEqual(76);
    for (const word of header.match(/=\?[^ \r\n]*\?=/g) ?? []) expect(word.length).toBeLessThanOrEqual(75);
    expect(await parsedSubject(header)).toBe(subject);
  });

  it('never splits an emoji across encoded words', () => {
    const text = '👨‍👩‍👧‍👦🇩🇪🏳️‍🌈😀'.repeat(20);
    const words = encodeWords(text, false);
    expect(words.length).toBeGreaterThan(5);
    expect(words.map(decodeWord).join('')).toBe(text);
  });

  it('never splits a character in Q encoding either', () => {
    const text = 'é'.repeat(30) + '€'.repeat(30) + '😀'.repeat(10);
    const words = encodeWords('a' + text, false);
    expect(words.map(decodeWord).join('')).toBe('a' + text);
  });

  it('uses Q encoding for mostly Latin text and B for CJK', () => {
    expect(encodeWords('Grüße', false)[0]).toMatch(/^=\?utf-8\?Q\?/);
    expect(encodeWords('日本語のテキスト', false)[0]).toMatch(/^=\?utf-8\?B\?/);
  });

  it('keeps Q encoding in a display name to the characters a phrase allows', () => {
    expect(encodeWords('Zoë (Sales), "Ops"', true)[0]).toBe('=?utf-8?Q?Zo=C3=AB_=28Sales=29=2C_=22Ops=22?=');
  });

  it('starts the value on a continuation line when the header name leaves no room', () => {
    const name = 'X-' + 'Very-Long-Header-Name-'.repeat(3);
    const header = unstructuredHeader(name, 'héllo');
    expect(header).toBe(`${name}:\r\n =?utf-8?Q?h=C3=A9llo?=\r\n`);
  });
});

describe('header folding', () => {
  it('folds a long ASCII header at spaces, keeping lines within 76 characters', () => {
    const value = 'word '.repeat(60).trim();
    const header = foldLine(`Subject: ${value}`);
    for (const line of lines(header)) expect(line.length).toBeLessThanOrEqual(76);
    expect(header.replace(/\r\n(?=[ \t])/g, '')).toBe(`Subject: ${value}\r\n`);
  });

  it('never leaves a folded line holding only whitespace', () => {
    const header = foldLine(`Subject: a${' '.repeat(200)}b`);
    for (const line of lines(header)) expect(line.trim()).not.toBe('');
  });

  it('keeps a long URL in a custom header unbroken, since the header may be structured', () => {
    const url = `<https://example.org/unsubscribe/${'a'.repeat(150)}>`;
    const header = customHeader('List-Unsubscribe', `${url}, <mailto:u@example.org>`);
    expect(header).toBe(`List-Unsubscribe:\r\n ${url},\r\n <mailto:u@example.org>\r\n`);
  });

  it('refuses a header that cannot be folded within 998 octets', () => {
    expect(() => customHeader('X-Token', 'x'.repeat(1000))).toThrow(/998/);
  });

  it('refuses CR or LF in a header value and a malformed header name', () => {
    expect(() => assertNoLineBreak('Subject', 'a\r\nBcc: x@example.org')).toThrow(Error);
    expect(() => assertNoLineBreak('Subject', 'a\nb')).toThrow(Error);
    expect(() => assertFieldName('X-Bad Name')).toThrow(Error);
    expect(() => assertFieldName('X-Bad:')).toThrow(Error);
    expect(() => assertFieldName('X-Good-Name')).not.toThrow();
  });
});

describe('addresses', () => {
  it('writes a bare address when there is no display name', () => {
    expect(formatAddress({ email: 'ann@example.org' })).toBe('ann@example.org');
    expect(formatAddress({ email: 'x@[192.0.2.1]', name: '' })).toBe('<x@[192.0.2.1]>');
  });

  it('writes a display name of plain words without quotes', () => {
    expect(formatAddress({ email: 'ann@example.org', name: 'Ann Smith' })).toBe('Ann Smith <ann@example.org>');
  });

  it('quotes a display name with a comma, escaping quotes and backslashes', () => {
    expect(formatAddress({ email: 'a@example.org', name: 'Shop, Inc.' })).toBe('"Shop, Inc." <a@example.org>');
    expect(formatAddress({ email: 'a@example.org', name: 'The "Best" \\ Shop' })).toBe('"The \\"Best\\" \\\\ Shop" <a@example.org>');
  });

  it('encodes a non-ASCII display name and leaves an SMTPUTF8 address as it is', () => {
    expect(formatAddress({ email: 'jürgen@exämple.de', name: 'Jürgen' })).toBe('=?utf-8?Q?J=C3=BCrgen?= <jürgen@exämple.de>');
  });

  it('folds a long address list between addresses', async () => {
    const list = Array.from({ length: 8 }, (_, i) => ({ email: `person${i}@example.org`, name: `Person Number ${i}` }));
    const header = addressHeader('To', list);
    for (const line of lines(header)) expect(line.length).toBeLessThanOrEqual(76);
    const parsed = await simpleParser(`From: a@example.org\r\n${header}\r\ntext\r\n`);
    const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
    expect(to?.value.map((m) => ({ email: m.address, name: m.name }))).toEqual(list);
  });
});

describe('quoted-printable', () => {
  it('escapes = and leaves other printable ASCII as it is', () => {
    expect(encodeQuotedPrintable('a=b <p class="x">')).toBe('a=3Db <p class=3D"x">');
  });

  it('breaks long lines with soft breaks so that no line passes 76 characters', () => {
    const body = 'x'.repeat(2000);
    const encoded = encodeQuotedPrintable(body);
    for (const line of encoded.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(decodeQuotedPrintable(encoded)).toBe(body);
  });

  it('never splits an escape across a soft break', () => {
    const encoded = encodeQuotedPrintable('a' + '='.repeat(100));
    for (const line of encoded.split('\r\n')) expect(line).toMatch(/^(a|=3D)*=?$/);
  });

  it('escapes whitespace before a line break and at the end', () => {
    expect(encodeQuotedPrintable('a \r\nb\t\r\nc ')).toBe('a=20\r\nb=09\r\nc=20');
    expect(encodeQuotedPrintable('a b')).toBe('a b');
  });

  it('turns CRLF, bare LF and bare CR into hard CRLF breaks', () => {
    expect(encodeQuotedPrintable('a\r\nb\nc\rd\r\r\ne')).toBe('a\r\nb\r\nc\r\nd\r\n\r\ne');
  });

  it("escapes the UTF-8 bytes of non-ASCII characters, keeping a character's escapes on one line", () => {
    expect(encodeQuotedPrintable('é€😀')).toBe('=C3=A9=E2=82=AC=F0=9F=98=80');
    const encoded = encodeQuotedPrintable('x'.repeat(70) + '😀');
    expect(encoded).toBe(`${'x'.repeat(70)}=\r\n=F0=9F=98=80`);
  });

  it('leaves dots at the start of a line as they are, since the SMTP client stuffs them', () => {
    expect(encodeQuotedPrintable('.\r\n..x\r\n.')).toBe('.\r\n..x\r\n.');
  });

  it('decodes back to the text with CRLF line breaks, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', maxLength: 3 }), fc.constantFrom(' ', '\t', '\r', '\n', '=', 'é', '😀')), maxLength: 300 }), (text) => {
        const encoded = encodeQuotedPrintable(text);
        expect(encoded).toMatch(/^[\t\x20-\x7e\r\n]*$/);
        expect(encoded).not.toMatch(/[ \t](\r\n|$)/);
        for (const line of encoded.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
        expect(decodeQuotedPrintable(encoded)).toBe(normaliseLineBreaks(text));
      }),
      { numRuns: 500 },
    );
  });
});

describe('base64 bodies', () => {
  it('wraps at 76 characters and decodes back', () => {
    const body = '日本語のテキスト。'.repeat(40);
    const encoded = encodeBase64(body);
    const encodedLines = encoded.split('\r\n');
    expect(encodedLines.slice(0, -1).every((line) => line.length === 76)).toBe(true);
    expect(encodedLines.at(-1)?.length).toBeLessThanOrEqual(76);
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe(body);
  });
});

describe('7bit check', () => {
  it('accepts ASCII text whose lines are exactly 998 octets', () => {
    expect(isSevenBit(`${'a'.repeat(998)}\r\n${'b'.repeat(998)}`)).toBe(true);
    expect(isSevenBit(`${'a'.repeat(998)}\n${'b'.repeat(998)}`)).toBe(true);
  });

  it('refuses a line of 999 octets, non-ASCII text and NUL', () => {
    expect(isSevenBit(`short\r\n${'a'.repeat(999)}\r\nshort`)).toBe(false);
    expect(isSevenBit(`short\n${'a'.repeat(999)}`)).toBe(false);
    expect(isSevenBit('café')).toBe(false);
    expect(isSevenBit('a\0b')).toBe(false);
  });

  it('finds bare CR and LF, and normalises every break to CRLF', () => {
    expect(hasBareLineBreak('a\r\nb')).toBe(false);
    expect(hasBareLineBreak('a\nb')).toBe(true);
    expect(hasBareLineBreak('a\r\nb\rc')).toBe(true);
    expect(hasBareLineBreak('a\r\nb\nc')).toBe(true);
    expect(normaliseLineBreaks('a\nb\rc\r\nd\n\re')).toBe('a\r\nb\r\nc\r\nd\r\n\r\ne');
  });

  it('prefers quoted-printable for mostly Latin text and base64 for mostly non-Latin text', () => {
    expect(preferQuotedPrintable('Grüße aus Köln, bis bald.')).toBe(true);
    expect(preferQuotedPrintable('x'.repeat(2000))).toBe(true);
    expect(preferQuotedPrintable('日本語のテキスト。')).toBe(false);
    expect(preferQuotedPrintable('Привет, как дела?')).toBe(false);
  });
});
