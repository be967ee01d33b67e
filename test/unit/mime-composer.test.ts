import fc from 'fast-check';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import type { Address } from '../../src/core/types.js';
import { MessageComposer, type MessageParts, type SharedParts } from '../../src/mime/composer.js';
import { composeWithAttachments } from '../../src/mime/library-composer.js';

const EMAILS = ['ann@example.org', 'first.last+tag@sub.example.co.uk', 'ünïcode@exämple.de', 'bob@例え.jp', 'x@[192.0.2.1]', "o'brien@example.ie"];
const TRICKY = ['Ann, Smith', '"quoted"', 'back\\slash', '=?utf-8?q?x?=', '  spaced  out  ', 'עברית ושלום', '日本語の名前', '👨‍👩‍👧 family', 'a'.repeat(200), 'Dr. Who (the)', 'x=?y', '_under_score_'];
const noBreaks = (s: string): string => s.replace(/[\r\n]/g, ' ');

const unicodeText = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ maxLength: 120 }));
const name = fc.oneof(fc.constant(undefined), fc.constantFrom(...TRICKY), unicodeText.map(noBreaks));
const address: fc.Arbitrary<Address> = fc.record({ email: fc.constantFrom(...EMAILS), name }).map(({ email, name }) => (name === undefined ? { email } : { email, name }));
const subject = fc.oneof(fc.constantFrom('', ...TRICKY, 'Your order #1234 has shipped — track it here'), unicodeText, fc.string({ unit: 'grapheme', minLength: 60, maxLength: 200 })).map(noBreaks);
const bodyPiece = fc.oneof(
  fc.constantFrom('\r\n', '\n', '\r', '.', '..', '\r\n.\r\n', '  ', ' \r\n', '\t\n', '=', '=?utf-8?q?a?=', '--=_herald_', 'From ', '<p>héllo</p>'),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 990, maxLength: 1100 }),
);
const body = fc.array(bodyPiece, { maxLength: 12 }).map((pieces) => pieces.join(''));
const headerValue = fc
  .oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 120 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }))
  .map((value) => noBreaks(value).replaceAll('=?', '=').trim())
  .filter((value) => value !== '');
const headers = fc.dictionary(fc.constantFrom('X-Campaign', 'X-Tracking-Id', 'X-Entity-Ref-ID', 'X-Long-Custom-Header-Name-For-Folding'), headerValue, { maxKeys: 3 });
const shared: fc.Arbitrary<SharedParts> = fc.record({ from: address, cc: fc.array(address, { maxLength: 3 }), replyTo: fc.array(address, { maxLength: 2 }), headers });
const contentKind = fc.constantFrom('text', 'html', 'both');
const message = fc.record({
  to: fc.array(address, { maxLength: 3 }),
  subject,
  text: body,
  html: body,
  kind: contentKind,
  date: fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true }),
  headers: fc.option(fc.dictionary(fc.constantFrom('X-Recipient-Ref', 'X-Campaign'), headerValue, { maxKeys: 2 }), { nil: undefined }),
});

type Generated = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toParts(generated: Generated, id: number): MessageParts {
  const { kind, text, html, headers: extra, ...rest } = generated;
  return {
    ...rest,
    messageId: `<msg_${id}@example.org>`,
    ...(kind !== 'html' ? { text } : {}),
    ...(kind !== 'text' ? { html } : {}),
    ...(extra !== undefined ? { headers: extra } : {}),
  };
}

/** RFC 2047 decoding of a header value; each word on its own, as no word may split a character. */
function decodeWords(value: string): string {
  return value.replace(/(\?=)\s+(?==\?)/g, '$1').replace(/=\?utf-8\?([BQ])\?([^?]*)\?=/gi, (_, encoding: string, text: string) => {
    const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  });
}

const lf = (s: string): string => s.replace(/\r\n|\r/g, '\n');
/** mailparser drops an empty part, or reports it as a lone line break. */
const emptyish = (value: string | false | undefined): boolean => value === undefined || value === false || value === '' || value === '\n';

function mailboxes(parsed: AddressObject | AddressObject[] | undefined): Array<{ address: string; name: string }> {
  const list = parsed === undefined ? [] : Array.isArray(parsed) ? parsed : [parsed];
  return list.flatMap((group) => group.value.map((mailbox) => ({ address: mailbox.address ?? '', name: mailbox.name })));
}

function expectedMailboxes(addresses: Address[]): Array<{ address: string; name: string }> {
  return addresses.map((a) => ({ address: a.email, name: a.name ?? '' }));
}

function expectBody(actual: string | false | undefined, expected: string, standalone: boolean): void {
  // A standalone part gains a final line break when it lacks one: the message must end with CRLF.
  const wanted = standalone && expected !== '' && !/[\r\n]$/.test(expected) ? expected + '\n' : expected;
  if (wanted === '') expect(emptyish(actual)).toBe(true);
  else expect(lf(actual === false || actual === undefined ? '' : actual)).toBe(lf(wanted));
}

function checkStructure(raw: string, emails: string[]): void {
  expect(raw.endsWith('\r\n')).toBe(true);
  expect(raw).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  const end = raw.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  for (const line of raw.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(998);
  for (const line of raw.slice(0, end).split('\r\n')) {
    expect(line).toMatch(/^([\x21-\x39\x3b-\x7e]+:|[ \t]+\S)/);
    // Only an SMTPUTF8 address may put raw UTF-8 in a header.
    const rest = emails.reduce((text, email) => text.replaceAll(email, ''), line);
    expect(rest).toMatch(/^[\x20-\x7e]*$/);
    if (line.includes('=?utf-8?')) expect(line.length).toBeLessThanOrEqual(76);
  }
}

function compareFields(mail: ParsedMail, sharedParts: SharedParts, parts: MessageParts): void {
  expect(mailboxes(mail.from)).toEqual(expectedMailboxes([sharedParts.from]));
  expect(mailboxes(mail.to)).toEqual(expectedMailboxes(parts.to));
  expect(mailboxes(mail.cc)).toEqual(expectedMailboxes(sharedParts.cc));
  expect(mailboxes(mail.replyTo)).toEqual(expectedMailboxes(sharedParts.replyTo));
  expect(mail.subject ?? '').toBe(parts.subject);
  expect(mail.messageId).toBe(parts.messageId);
  expect(mail.date?.getTime()).toBe(Math.floor(parts.date.getTime() / 1000) * 1000);
  const both = parts.text !== undefined && parts.html !== undefined;
  if (parts.text !== undefined) expectBody(mail.text, parts.text, !both);
  if (parts.html !== undefined) expectBody(mail.html, parts.html, !both);
  const custom = { ...sharedParts.headers, ...parts.headers };
  // mailparser leaves encoded words in headers it does not know, so decode them here.
  for (const [key, value] of Object.entries(custom)) expect(decodeWords(String(mail.headers.get(key.toLowerCase())))).toBe(value);
}

describe('MessageComposer round trip through mailparser', () => {
  it('keeps every field of generated messages', async () => {
    await fc.assert(
      fc.asyncProperty(shared, fc.array(message, { minLength: 1, maxLength: 3 }), async (sharedParts, generated) => {
        const composer = new MessageComposer(sharedParts);
        const emails = [sharedParts.from, ...sharedParts.cc, ...sharedParts.replyTo, ...generated.flatMap((g) => g.to)].map((a) => a.email);
        for (const [i, g] of generated.entries()) {
          const parts = toParts(g, i);
          const raw = composer.compose(parts);
          checkStructure(raw, emails);
          compareFields(await simpleParser(raw), sharedParts, parts);
        }
      }),
      { numRuns: 1200 },
    );
  });

  it('gives the same bytes when the same body is sent again', () => {
    fc.assert(
      fc.property(shared, message, (sharedParts, g) => {
        const composer = new MessageComposer(sharedParts);
        const parts = toParts(g, 1);
        const first = composer.compose(parts);
        composer.compose({ ...parts, text: `${parts.text ?? ''}x`, html: `${parts.html ?? ''}y` });
        expect(composer.compose(parts)).toBe(first);
        expect(composer.compose({ ...parts, text: parts.text?.split('').join(''), html: parts.html?.split('').join('') })).toBe(first);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('MessageComposer', () => {
  const sharedParts: SharedParts = { from: { email: 'shop@example.org', name: 'Shop' }, cc: [], replyTo: [], headers: { 'X-Campaign': 'spring' } };
  const parts: MessageParts = { to: [{ email: 'ann@example.net' }], subject: 'Hi', text: 'Hello', html: '<p>Hello</p>', messageId: '<m1@example.org>', date: new Date('2024-03-05T09:07:03.456Z') };

  it('writes headers in the documented order', () => {
    const raw = new MessageComposer(sharedParts).compose({ ...parts, headers: { 'List-Unsubscribe': '<https://example.org/u/1>' } });
    const names = raw
      .slice(0, raw.indexOf('\r\n\r\n'))
      .split('\r\n')
      .filter((line) => !/^\s/.test(line))
      .map((line) => line.slice(0, line.indexOf(':')));
    expect(names).toEqual(['From', 'To', 'Subject', 'Date', 'Message-ID', 'MIME-Version', 'X-Campaign', 'List-Unsubscribe', 'Content-Type']);
    expect(raw).toContain('Date: Tue, 05 Mar 2024 09:07:03 +0000\r\n');
  });

  it('writes no To header for a copy without To recipients', () => {
    expect(new MessageComposer(sharedParts).compose({ ...parts, to: [] })).not.toMatch(/^To:/m);
  });

  it('lets a per-recipient header replace the shared one of the same name', async () => {
    const raw = new MessageComposer(sharedParts).compose({ ...parts, headers: { 'x-campaign': 'summer' } });
    expect(raw.match(/^x-campaign:/gim)).toHaveLength(1);
    expect((await simpleParser(raw)).headers.get('x-campaign')).toBe('summer');
  });

  it('leaves the 7bit encoding when a body contains the boundary', async () => {
    const composer = new MessageComposer(sharedParts);
    const boundary = /boundary="([^"]+)"/.exec(composer.compose(parts))?.[1] ?? '';
    const text = `before\r\n--${boundary}\r\nafter`;
    const raw = composer.compose({ ...parts, text });
    expect(raw).toContain('Content-Transfer-Encoding: quoted-printable');
    expect(lf((await simpleParser(raw)).text ?? '')).toBe(lf(text));
  });

  it('picks base64 for mostly non-Latin text and quoted-printable for mostly Latin text', () => {
    const composer = new MessageComposer(sharedParts);
    expect(composer.compose({ ...parts, html: undefined, text: '日本語のテキスト。'.repeat(50) })).toContain('Content-Transfer-Encoding: base64');
    expect(composer.compose({ ...parts, html: undefined, text: 'Grüße aus Köln, bis bald. '.repeat(50) })).toContain('Content-Transfer-Encoding: quoted-printable');
  });

  it('refuses line breaks in header names and values', () => {
    expect(() => new MessageComposer({ ...sharedParts, headers: { 'X-A': 'a\r\nBcc: x@y.org' } })).toThrow(Error);
    expect(() => new MessageComposer({ ...sharedParts, headers: { 'X-A\n': 'a' } })).toThrow(Error);
    expect(() => new MessageComposer({ ...sharedParts, from: { email: 'a@b.org', name: 'A\rB' } })).toThrow(Error);
    expect(() => new MessageComposer(sharedParts).compose({ ...parts, subject: 'a\nb' })).toThrow(Error);
    expect(() => new MessageComposer(sharedParts).compose({ ...parts, headers: { 'X-B': 'a\nb' } })).toThrow(Error);
  });

  it('refuses a custom header the composer writes itself', () => {
    expect(() => new MessageComposer({ ...sharedParts, headers: { 'content-type': 'text/plain' } })).toThrow(/composer/);
  });

  it('composes far faster than MailComposer (printed, not asserted)', async () => {
    const line = 'Thanks for your order. Here is one line of the receipt, as templates write it.';
    const personal = Array.from({ length: 20_000 }, (_, i): MessageParts => ({
      ...parts,
      to: [{ email: `user${i}@example.net`, name: `User ${i}` }],
      subject: `Your receipt, user ${i}`,
      text: `Hello user ${i},\n\n${`${line}\n`.repeat(20)}`,
      html: `<html><body>\n<p>Hello user ${i},</p>\n${`<p style="margin:0">${line} Grüße.</p>\n`.repeat(20)}</body></html>\n`,
      messageId: `<m${i}@example.org>`,
    }));
    const composer = new MessageComposer(sharedParts);
    let bytes = 0;
    const started = performance.now();
    for (const p of personal) bytes += composer.compose(p).length;
    const fastRate = personal.length / ((performance.now() - started) / 1000);
    const libraryStarted = performance.now();
    const sample = personal.slice(0, 1_000);
    for (const p of sample) {
      const to = p.to[0] as Address;
      const mail = new MailComposer({ from: { name: 'Shop', address: 'shop@example.org' }, to: { name: to.name ?? '', address: to.email }, subject: p.subject, text: p.text, html: p.html, messageId: p.messageId, date: p.date, headers: sharedParts.headers });
      bytes += (await mail.compile().build()).length;
    }
    const libraryRate = sample.length / ((performance.now() - libraryStarted) / 1000);
    console.log(`${bytes} bytes; MessageComposer: ${Math.round(fastRate)} msgs/s; nodemailer MailComposer: ${Math.round(libraryRate)} msgs/s`);
  });
});

describe('composeWithAttachments', () => {
  it('brings an attachment back with the same content', async () => {
    const content = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const raw = await composeWithAttachments(
      { from: { email: 'shop@example.org', name: 'Shöp' }, cc: [{ email: 'cc@example.org' }], replyTo: [], headers: { 'X-Campaign': 'spring' } },
      { to: [{ email: 'ann@example.net', name: 'Ann' }], subject: 'Your invoice – März', text: 'See attached.', html: '<p>See attached.</p>', messageId: '<m2@example.org>', date: new Date('2024-03-05T09:07:03Z'), headers: { 'X-Ref': 'r1' } },
      [
        { filename: 'invoice.bin', content: content.toString('base64'), contentType: 'application/octet-stream' },
        { filename: 'logo.png', content: Buffer.from('not really a png').toString('base64'), contentType: 'image/png', contentId: 'logo@example.org', disposition: 'inline' },
      ],
    );
    expect(raw).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
    expect(raw).not.toMatch(/^X-Mailer:/m);
    const mail = await simpleParser(raw);
    expect(mail.attachments).toHaveLength(2);
    const invoice = mail.attachments.find((a) => a.filename === 'invoice.bin');
    expect(Buffer.compare(invoice?.content ?? Buffer.alloc(0), content)).toBe(0);
    const logo = mail.attachments.find((a) => a.filename === 'logo.png');
    expect(logo).toMatchObject({ contentType: 'image/png', contentDisposition: 'inline', cid: 'logo@example.org' });
    expect(logo?.content.toString()).toBe('not really a png');
    expect(mail.messageId).toBe('<m2@example.org>');
    expect(mail.date?.toISOString()).toBe('2024-03-05T09:07:03.000Z');
    expect(mail.subject).toBe('Your invoice – März');
    expect(mailboxes(mail.from)).toEqual([{ address: 'shop@example.org', name: 'Shöp' }]);
    expect(mail.headers.get('x-campaign')).toBe('spring');
    expect(mail.headers.get('x-ref')).toBe('r1');
    expect(lf(mail.text ?? '')).toBe('See attached.');
  });
});
