import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import { parseMessage, relaxedBody, relaxedHeader, selectHeaders } from '../../src/mime/dkim-canon.js';
import { dkimSign, type DkimKey } from '../../src/mime/dkim-sign.js';

// mailauth ships no types; this is the part of its verifier the tests use.
interface DkimVerdict {
  status: { result: string; comment?: string };
  selector?: string;
  algo?: string;
  bodyHash?: string;
}
type Resolver = (name: string, rrtype: string) => Promise<string[][]>;
const { dkimVerify } = createRequire(import.meta.url)('mailauth/lib/dkim/verify.js') as {
  dkimVerify: (input: Buffer, options: { resolver: Resolver }) => Promise<{ results: DkimVerdict[] }>;
};

const EMPTY_BODY_HASH = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';
const NOW = new Date('2025-06-01T12:00:00Z');

let rsa: DkimKey;
let ed25519: DkimKey;
const dnsRecords = new Map<string, string>();

function publish(selector: string, publicKey: KeyObject): void {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  // RFC 8463 §4: an Ed25519 record holds the raw 32-byte key, not the SPKI structure.
  const record = publicKey.asymmetricKeyType === 'ed25519'
    ? `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`
    : `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
  dnsRecords.set(`${selector}._domainkey.example.com`, record);
}

const resolver: Resolver = async (name) => {
  const record = dnsRecords.get(name);
  if (record === undefined) throw Object.assign(new Error(`no TXT at ${name}`), { code: 'ENOTFOUND' });
  return [[record]];
};

async function verify(message: string): Promise<DkimVerdict[]> {
  return (await dkimVerify(Buffer.from(message, 'utf8'), { resolver })).results;
}

/**
 * SMTP ends the data with CRLF, so a body whose last line has no CRLF arrives with one. Verify
 * that form: mailauth, given the unterminated line, keeps a single trailing SP on it (it strips
 * two or more) where RFC 6376 §3.4.4 strips any, as dkimSign does.
 */
function onTheWire(message: string): string {
  return message.endsWith('\r\n') ? message : `${message}\r\n`;
}

async function expectAllPass(message: string, count = 1): Promise<void> {
  const results = await verify(message);
  expect(results.map((result) => result.status.result)).toEqual(Array(count).fill('pass'));
}

function tag(signed: string, name: string): string | undefined {
  const header = signed.slice(0, signed.indexOf('\r\n', signed.indexOf(' b=')) + 2).replace(/\r\n[ \t]/g, ' ');
  return new RegExp(`[; ]${name}=([^;]*)`).exec(header)?.[1]?.replace(/\s+/g, '');
}

const HEADERS = [
  'From: Ada <ada@example.com>',
  'To: bob@example.org',
  'Subject: Your receipt',
  'Date: Sun, 01 Jun 2025 12:00:00 +0000',
  'Message-ID: <1@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
].join('\r\n');

function message(body: string, headers = HEADERS): string {
  return `${headers}\r\n\r\n${body}`;
}

beforeAll(() => {
  const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const edPair = generateKeyPairSync('ed25519');
  rsa = { domain: 'example.com', selector: 'rsa1', algorithm: 'rsa-sha256', privateKey: rsaPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  ed25519 = { domain: 'example.com', selector: 'ed1', algorithm: 'ed25519-sha256', privateKey: edPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  publish('rsa1', rsaPair.publicKey);
  publish('ed1', edPair.publicKey);
});

describe('relaxed canonicalisation', () => {
  it('gives the RFC 6376 §3.4.5 example', () => {
    const { fields, bodyStart } = parseMessage('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n');
    expect(fields.map(relaxedHeader)).toEqual(['a:X', 'b:Y Z']);
    expect(relaxedBody('A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n'.slice(bodyStart))).toBe(' C\r\nD E\r\n');
  });

  it('turns an empty body, or one of blank lines only, into nothing at all', () => {
    expect(relaxedBody('')).toBe('');
    expect(relaxedBody('\r\n\r\n \t\r\n  ')).toBe('');
  });

  it('adds the missing final CRLF, drops trailing blank lines and reads a bare LF as a line end', () => {
    expect(relaxedBody('end  ')).toBe('end\r\n');
    expect(relaxedBody('a\r\n\r\nb \r\n\t\r\n\r\n')).toBe('a\r\n\r\nb\r\n');
    expect(relaxedBody('a \nb\n')).toBe('a\r\nb\r\n');
  });

  it('leaves whitespace other than SP and HTAB alone', () => {
    expect(relaxedBody('a\u00a0\u00a0b\u00a0\r\n')).toBe('a\u00a0\u00a0b\u00a0\r\n');
    expect(relaxedHeader({ name: 'subject', text: 'Subject:\u00a0x\u00a0' })).toBe('subject:\u00a0x\u00a0');
  });

  it('selects repeated fields from the bottom up and lists an oversigned name once more', () => {
    const { fields } = parseMessage('To: a\r\nFrom: f\r\nTo: b\r\n\r\n');
    const selection = selectHeaders(fields, ['from', 'to', 'cc', 'reply-to'], new Set(['from', 'reply-to']));
    expect(selection.names).toEqual(['from', 'from', 'to', 'to', 'reply-to']);
    expect(selection.fields.map((field) => field.text)).toEqual(['From: f', 'To: b', 'To: a']);
  });
});

describe('dkimSign', () => {
  it('signs with RSA-2048 and the signature verifies', async () => {
    const signed = dkimSign(message('Hello\r\n'), [rsa], { now: NOW });
    expect(signed.startsWith('DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=rsa1;')).toBe(true);
    expect(tag(signed, 't')).toBe(String(NOW.getTime() / 1000));
    await expectAllPass(signed);
  });

  it('signs with Ed25519 over the SHA-256 of the header data (RFC 8463) and it verifies', async () => {
    await expectAllPass(dkimSign(message('Hello\r\n'), [ed25519]));
  });

  it('adds both an RSA and an Ed25519 signature, sharing one body hash, and both verify', async () => {
    const signed = dkimSign(message('Dual\r\n'), [rsa, ed25519]);
    const results = await verify(signed);
    expect(results.map((result) => [result.algo, result.status.result])).toEqual([['rsa-sha256', 'pass'], ['ed25519-sha256', 'pass']]);
    expect(new Set(results.map((result) => result.bodyHash)).size).toBe(1);
  });

  it('lists only the headers present, each instance of a repeated one, and From once extra', async () => {
    const headers = `Received: from a\r\nTo: one@example.org\r\n${HEADERS}\r\nTo: two@example.org\r\nReceived: from b`;
    const signed = dkimSign(message('Hi\r\n', headers), [rsa]);
    expect(tag(signed, 'h')).toBe('from:from:to:to:to:subject:date:message-id:mime-version:content-type');
    await expectAllPass(signed);
  });

  it('verifies with folded headers and headers with trailing or inner whitespace', async () => {
    const headers = `${HEADERS}\r\nReferences: <a@example.com>\r\n\t<b@example.com>\r\n  <c@example.com>   \r\nIn-Reply-To :  <c@example.com>\t \r\nList-Id: Weekly\t\t news <news.example.com> `;
    await expectAllPass(dkimSign(message('x\r\n', headers), [rsa, ed25519]), 2);
  });

  it('verifies a body with trailing empty lines, with the same body hash as without them', async () => {
    const trimmed = dkimSign(message('Last line\r\n'), [ed25519]);
    const padded = dkimSign(message('Last line  \r\n\r\n \r\n\t\r\n\r\n'), [ed25519]);
    expect(tag(padded, 'bh')).toBe(tag(trimmed, 'bh'));
    await expectAllPass(padded);
  });

  it('hashes an empty body, or one of empty lines only, as the empty string', async () => {
    for (const body of ['', '\r\n', '\r\n\r\n\r\n']) {
      const signed = dkimSign(message(body), [rsa]);
      expect(tag(signed, 'bh')).toBe(EMPTY_BODY_HASH);
      await expectAllPass(signed);
    }
  });

  it('verifies long lines and a non-ASCII UTF-8 body', async () => {
    const body = `${'x'.repeat(5000)}\r\n${'word \t '.repeat(900)}\r\nGrüße, 東京, emoji 📨, à côté\u00a0!\r\n`;
    await expectAllPass(dkimSign(message(body), [rsa, ed25519]), 2);
  });

  it('with From oversigned, a From added above or below the original breaks the signature', async () => {
    const signed = dkimSign(message('Pay here\r\n'), [rsa]);
    await expectAllPass(signed);
    const [signature, rest] = [signed.slice(0, signed.indexOf('From:')), signed.slice(signed.indexOf('From:'))];
    const below = `${signature}${HEADERS}\r\nFrom: Mallory <m@evil.example>\r\n\r\nPay here\r\n`;
    const above = `${signature}From: Mallory <m@evil.example>\r\n${rest}`;
    for (const forged of [below, above]) {
      const [result] = await verify(forged);
      expect(result?.status.result).toBe('fail');
    }
    // Without oversigning, the From added above is invisible to the verifier: why From is oversigned.
    const plain = dkimSign(message('Pay here\r\n'), [rsa], { oversign: [] });
    await expectAllPass(`${plain.slice(0, plain.indexOf('From:'))}From: Mallory <m@evil.example>\r\n${plain.slice(plain.indexOf('From:'))}`);
  });

  it('fails on a tampered body or a tampered signed header', async () => {
    const signed = dkimSign(message('Amount: 10 EUR\r\n'), [rsa, ed25519]);
    const body = await verify(signed.replace('10 EUR', '90 EUR'));
    expect(body.map((result) => [result.status.result, result.status.comment])).toEqual(Array(2).fill(['neutral', 'body hash did not verify']));
    const header = await verify(signed.replace('Your receipt', 'Your refund'));
    expect(header.map((result) => result.status.result)).toEqual(['fail', 'fail']);
  });

  it('adds x= when asked and signs with the given time', () => {
    const signed = dkimSign(message('x\r\n'), [ed25519], { now: NOW, expireSeconds: 3600 });
    expect(Number(tag(signed, 'x')) - Number(tag(signed, 't'))).toBe(3600);
  });

  it('returns the message untouched without keys and refuses a key of the wrong kind', () => {
    expect(dkimSign(message('x\r\n'), [])).toBe(message('x\r\n'));
    expect(() => dkimSign(message('x\r\n'), [{ ...rsa, algorithm: 'ed25519-sha256' }])).toThrow(HeraldError);
    expect(() => dkimSign(message('x\r\n'), [{ ...rsa, privateKey: 'not a key' }])).toThrow(/not a PEM private key/);
    expect(() => dkimSign(message('x\r\n'), [{ ...rsa, selector: 'a; b=1' }])).toThrow(/not a valid selector/);
    expect(() => dkimSign(message('x\r\n'), [rsa], { headers: ['from', 'x: y'] })).toThrow(/not a header field name/);
  });

  it('signs an unterminated last line as it arrives after SMTP adds the CRLF', async () => {
    const open = dkimSign(message('Bye '), [ed25519]);
    expect(tag(open, 'bh')).toBe(tag(dkimSign(message('Bye \r\n'), [ed25519]), 'bh'));
    await expectAllPass(onTheWire(open));
  });

  it('the body hash is SHA-256 of the relaxed body', () => {
    const body = 'Line one  \r\n\tLine two\r\n\r\n';
    expect(tag(dkimSign(message(body), [ed25519]), 'bh')).toBe(createHash('sha256').update(relaxedBody(body)).digest('base64'));
  });
});

// Header values stay ASCII: mailauth 4.9 collapses any JS `\s` in the header's binary form, so a
// UTF-8 byte 0xA0 (inside "à", many CJK characters) would fail there while being right per
// RFC 6376, which reduces SP and HTAB only. Bodies have no such limit.
const wsp = fc.constantFrom(' ', '\t', '  ', ' \t ');
const word = fc.string({ unit: fc.constantFrom(...'abcXYZ09<>@.,;:"()=-_'.split('')), minLength: 1, maxLength: 12 });
const headerValue = fc.array(fc.oneof(word, wsp, fc.constant('\r\n\t'), fc.constant('\r\n ')), { maxLength: 8 })
  .map((parts) => parts.join('').replace(/^(\r\n[ \t])+/, ''));
const headerName = fc.constantFrom('From', 'To', 'Cc', 'Subject', 'Reply-To', 'Date', 'X-Custom', 'References', 'from', 'SUBJECT');
const header = fc.tuple(headerName, fc.constantFrom(':', ' :', ': ', ':\t'), headerValue).map(([name, colon, value]) => `${name}${colon}${value}`);
const bodyLine = fc.array(fc.oneof(word, wsp, fc.constantFrom('é', '東京', '📨', '\u00a0', 'à')), { maxLength: 10 }).map((parts) => parts.join(''));
const body = fc.tuple(fc.array(bodyLine, { maxLength: 12 }), fc.constantFrom('', '\r\n', '\r\n\r\n', ' \r\n\t\r\n')).map(([lines, end]) => lines.join('\r\n') + end);

describe('dkimSign on random messages', () => {
  it('always produces signatures mailauth verifies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(header, { minLength: 1, maxLength: 10 }),
        body,
        fc.constantFrom<'rsa' | 'ed' | 'both'>('rsa', 'ed', 'both'),
        async (headers, text, which) => {
          const keys = which === 'rsa' ? [rsa] : which === 'ed' ? [ed25519] : [rsa, ed25519];
          const raw = `From: Ada <ada@example.com>\r\n${headers.join('\r\n')}\r\n\r\n${text}`;
          await expectAllPass(onTheWire(dkimSign(raw, keys)), keys.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
