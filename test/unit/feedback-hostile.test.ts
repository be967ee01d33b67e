import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeedbackProvider } from '../../src/feedback/feedback-types.js';
import { parseProviderFeedback } from '../../src/feedback/providers.js';
import { parseReport } from '../../src/feedback/report.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url));

/** A minimal DSN around the given delivery-status body. */
const dsn = (deliveryStatus: string | Buffer, contentType = 'multipart/report; report-type=delivery-status; boundary="H"'): Buffer =>
  Buffer.concat([
    Buffer.from(`From: MAILER-DAEMON@mx.example.net\r\nTo: bounces+h@bounce.example.com\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n--H\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n--H\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n`),
    Buffer.isBuffer(deliveryStatus) ? deliveryStatus : Buffer.from(deliveryStatus),
    Buffer.from('\r\n--H--\r\n'),
  ]);

describe('hostile and broken reports', () => {
  it('refuses a report of another report-type (a read receipt)', async () => {
    expect(await parseReport(fixture('wrong-report-type.eml'))).toEqual({ ok: false, reason: 'report-type disposition-notification is not handled' });
  });

  it('refuses a DSN whose recipient block has no Final-Recipient', async () => {
    expect(await parseReport(fixture('dsn-missing-final-recipient.eml'))).toEqual({ ok: false, reason: 'delivery report has no recipient block (no Final-Recipient)' });
  });

  it('refuses a DSN truncated before its delivery-status part', async () => {
    expect(await parseReport(fixture('dsn-truncated.eml'))).toEqual({ ok: false, reason: 'delivery report has no message/delivery-status part (truncated?)' });
  });

  it('refuses a DSN truncated inside the recipient address', async () => {
    const raw = fixture('postfix-user-unknown.eml').toString('latin1');
    const cut = raw.slice(0, raw.indexOf('Final-Recipient: rfc822; nobody@') + 'Final-Recipient: rfc822; nob'.length);
    expect(await parseReport(cut)).toEqual({ ok: false, reason: 'delivery report has no usable recipient (recipient 1: Final-Recipient is not an address)' });
  });

  it('refuses a 12 MB body unread', async () => {
    const huge = Buffer.concat([fixture('postfix-user-unknown.eml'), Buffer.alloc(12 * 1024 * 1024, 0x41)]);
    expect(await parseReport(huge)).toEqual({ ok: false, reason: `report is ${huge.byteLength} bytes, over the 10485760-byte limit` });
  });

  it('reads a part in invalid UTF-8 without throwing, as Latin-1', async () => {
    const status = Buffer.concat([Buffer.from('Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 '), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(' unknown')]);
    expect(await parseReport(dsn(status))).toMatchObject({ ok: true, facts: [{ recipient: 'a@example.org', bounceClass: 'hard', diagnostic: '550 5.1.1 Ã(ÿþ unknown' }] });
  });

  it('refuses a DSN claiming 5,000 recipients as a whole', async () => {
    const blocks = Array.from({ length: 5000 }, (_, i) => `Final-Recipient: rfc822; user${i}@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n`).join('\r\n');
    expect(await parseReport(dsn(blocks))).toEqual({ ok: false, reason: 'delivery report lists more than 1000 recipients' });
  });

  it('reads recipients that a broken MTA did not separate with blank lines', async () => {
    const result = await parseReport(dsn('Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nFinal-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n'));
    expect(result).toMatchObject({ ok: true, facts: [{ recipient: 'a@example.org', bounceClass: 'hard' }, { recipient: 'b@example.org', bounceClass: 'soft' }] });
  });

  it('reads a DSN whose multipart/report lost its report-type but kept its delivery-status part', async () => {
    const result = await parseReport(dsn('Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n', 'multipart/report; boundary="H"'));
    expect(result).toMatchObject({ ok: true, format: 'dsn' });
  });

  it('cuts a 5,000-character diagnostic at 1,000 characters', async () => {
    const result = await parseReport(dsn(`Final-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 ${'x'.repeat(5000)}\r\n`));
    expect(result.ok && result.facts[0]?.kind === 'bounce' && result.facts[0].diagnostic?.length).toBe(1000);
  });

  it('refuses garbage bytes', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    expect(await parseReport(garbage)).toEqual({ ok: false, reason: expect.stringMatching(/^not a delivery report/) });
  });

  it('refuses an empty report and a value that is not a message at all', async () => {
    expect(await parseReport('')).toEqual({ ok: false, reason: 'report is empty' });
    expect(await parseReport(null as unknown as string)).toEqual({ ok: false, reason: 'report must be a Buffer or a string' });
  });

  it('refuses an ordinary message that is no bounce', async () => {
    expect(await parseReport('From: a@example.org\r\nSubject: hi\r\n\r\nJust saying hello.\r\n')).toEqual({
      ok: false,
      reason: 'not a delivery report: text/plain without a known plain-text bounce form',
    });
  });

  it('refuses an Exim-worded message without the list of failed addresses', async () => {
    expect(await parseReport('Subject: x\r\n\r\nThis message was created automatically by mail delivery software.\r\n')).toEqual({
      ok: false,
      reason: 'plain-text exim bounce without its list of addresses',
    });
  });
});

const PROVIDERS: FeedbackProvider[] = ['ses', 'sendgrid', 'mailgun', 'postmark'];
const CORPUS = ['postfix-user-unknown.eml', 'gmail-no-such-user.eml', 'multi-recipient.eml', 'arf-yahoo.eml', 'exim-plain-failed.eml', 'qmail-plain.eml'].map(fixture);

/** A real report with a slice cut out and random text put in its place. */
const mutatedReport = fc
  .tuple(fc.constantFrom(...CORPUS), fc.nat(), fc.nat(), fc.oneof(fc.string(), fc.string({ unit: 'binary' })))
  .map(([raw, a, b, insert]) => {
    const [from, to] = [a % raw.length, b % raw.length].sort((x, y) => x - y) as [number, number];
    return Buffer.concat([raw.subarray(0, from), Buffer.from(insert), raw.subarray(to)]);
  });

describe('parsers never throw', () => {
  it('parseReport returns a result for any bytes or text, and real reports cut up at random', async () => {
    const input = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)), mutatedReport);
    await fc.assert(
      fc.asyncProperty(input, async (raw) => {
        const result = await parseReport(raw);
        expect(typeof result.ok).toBe('boolean');
        if (!result.ok) expect(result.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('parseProviderFeedback returns a result for any JSON value, string or bytes, for every provider', () => {
    const body = fc.oneof(fc.anything(), fc.jsonValue(), fc.string(), fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)));
    fc.assert(
      fc.property(fc.constantFrom(...PROVIDERS), body, (provider, value) => {
        const result = parseProviderFeedback(provider, value);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });

  it('parseProviderFeedback survives real provider bodies with one field replaced by anything', () => {
    const samples: [FeedbackProvider, string][] = [
      ['ses', 'ses-bounce-permanent.json'],
      ['sendgrid', 'sendgrid-events.json'],
      ['mailgun', 'mailgun-permanent.json'],
      ['postmark', 'postmark-hardbounce.json'],
    ];
    const parsed = samples.map(([provider, file]) => [provider, JSON.parse(fixture(file).toString('utf8')) as unknown] as const);
    fc.assert(
      fc.property(fc.constantFrom(...parsed), fc.string(), fc.anything(), ([provider, sample], key, value) => {
        const target = Array.isArray(sample) ? sample[0] : sample;
        const keys = Object.keys(target as object);
        const replaced = { ...(target as object), [keys[key.length % keys.length] ?? key]: value };
        const result = parseProviderFeedback(provider, Array.isArray(sample) ? [replaced] : replaced);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });
});

describe('pathological input stays fast', () => {
  it('reads an Exim-worded bounce with a 2 MB line of @ signs in well under a second', async () => {
    const raw = `Subject: x\r\n\r\nThis message was created automatically by mail delivery software.\r\nThe following address(es) failed:\r\n\r\n  <${'@a'.repeat(1024 * 1024)}\r\n`;
    const started = performance.now();
    expect(await parseReport(raw)).toMatchObject({ ok: false });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('reads an SES recipient of a million angle brackets and @ signs in well under a second', () => {
    const started = performance.now();
    const bouncedRecipients = [{ emailAddress: `<${'a@'.repeat(1_000_000)}`, status: '5.1.1'.repeat(100_000) }];
    expect(parseProviderFeedback('ses', { notificationType: 'Bounce', bounce: { bouncedRecipients } })).toMatchObject({ ok: false });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
