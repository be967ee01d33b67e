import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyReportedBounce } from '../../src/core/delivery-outcome.js';
import { effectiveStatus, statusIn } from '../../src/feedback/bounce-class.js';
import { parseDsn } from '../../src/feedback/dsn.js';
import type { BounceFact, FeedbackFact } from '../../src/feedback/feedback-types.js';
import { parseReport } from '../../src/feedback/report.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url));

const bounce = (fields: Partial<BounceFact> & Pick<BounceFact, 'recipient' | 'bounceClass' | 'status'>): BounceFact => ({
  kind: 'bounce',
  action: 'failed',
  diagnostic: expect.any(String),
  remoteMta: null,
  reportingMta: null,
  originalMessageId: null,
  ...fields,
});

interface Case {
  file: string;
  says: string;
  format: string;
  facts: FeedbackFact[];
}

const CORPUS: Case[] = [
  {
    file: 'postfix-user-unknown.eml',
    says: 'reads a Postfix user-unknown DSN as a hard bounce of the message in the returned headers',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'nobody@mail.example.org',
        bounceClass: 'hard',
        status: '5.1.1',
        diagnostic: '550 5.1.1 <nobody@mail.example.org>: Recipient address rejected: User unknown in virtual mailbox table',
        remoteMta: 'mx1.mail.example.org',
        reportingMta: 'mail.herald.example',
        originalMessageId: '<msg_01HRX5Q8K2@shop.example.com>',
      }),
    ],
  },
  {
    file: 'exim-dsn-generic-status.eml',
    says: 'prefers the 5.1.1 in an Exim diagnostic over its generic 5.0.0 Status',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'jdoe@corp.example.net',
        bounceClass: 'hard',
        status: '5.1.1',
        remoteMta: 'mx.corp.example.net',
        reportingMta: 'relay.isp.example',
        originalMessageId: '<msg_01HRZ9W3TT@news.example.com>',
      }),
    ],
  },
  {
    file: 'office365-recipient-not-found.eml',
    says: 'reads an Office 365 RESOLVER.ADR.RecipientNotFound NDR (5.1.10) as hard',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'frank@contoso.example.com',
        bounceClass: 'hard',
        status: '5.1.10',
        diagnostic: '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
        reportingMta: 'DM6PR11MB4545.namprd11.prod.outlook.com',
        originalMessageId: '<msg_01HS2C7N4X@shop.example.com>',
      }),
    ],
  },
  {
    file: 'gmail-no-such-user.eml',
    says: "unfolds Gmail's multi-line 550-5.1.1 diagnostic and names the MX without its comment",
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'no.such.person.1987@gmail.com',
        bounceClass: 'hard',
        status: '5.1.1',
        diagnostic: expect.stringMatching(/^550-5\.1\.1 The email account that you tried to reach does not exist\. Please try 550-5\.1\.1 double-checking .* - gsmtp$/),
        remoteMta: 'gmail-smtp-in.l.google.com',
        reportingMta: 'googlemail.com',
        originalMessageId: '<msg_01HS4F0G9M@shop.example.com>',
      }),
    ],
  },
  {
    file: 'yahoo-dd-no-account.eml',
    says: "reads Yahoo's 554 'dd This user doesn't have a yahoo.com account' under a 5.0.0 Status as hard, by its text",
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'old.friend.2009@yahoo.com',
        bounceClass: 'hard',
        status: '5.0.0',
        remoteMta: 'mta7.am0.yahoodns.net',
        reportingMta: 'mail.herald.example',
        originalMessageId: '<msg_01HS7YH00A@shop.example.com>',
      }),
    ],
  },
  {
    file: 'postfix-delayed.eml',
    says: 'reads a Postfix delay warning as a soft, delayed bounce',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'grace@unreachable.example.net',
        bounceClass: 'soft',
        status: '4.4.1',
        action: 'delayed',
        diagnostic: 'connect to mx.unreachable.example.net[203.0.113.200]:25: Connection timed out',
        reportingMta: 'mail.herald.example',
        originalMessageId: '<msg_01HSAD3L4Y@shop.example.com>',
      }),
    ],
  },
  {
    file: 'mailbox-full.eml',
    says: 'reads a full mailbox (5.2.2) as a soft bounce even though it failed permanently',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'henry@bigisp.example.com',
        bounceClass: 'soft',
        status: '5.2.2',
        remoteMta: 'mx.bigisp.example.com',
        reportingMta: 'mail.herald.example',
        originalMessageId: '<msg_01HSCF0LL1@shop.example.com>',
      }),
    ],
  },
  {
    file: 'multi-recipient.eml',
    says: 'gives one fact per recipient block of a multi-recipient DSN, positive notices as deliveries',
    format: 'dsn',
    facts: [
      bounce({ recipient: 'ivan@partner.example', bounceClass: 'hard', status: '5.1.1', remoteMta: 'store1.partner.example', reportingMta: 'gateway.partner.example', originalMessageId: '<msg_01HSF2MULT@shop.example.com>' }),
      bounce({ recipient: 'judy@partner.example', bounceClass: 'soft', status: '5.7.1', remoteMta: 'store2.partner.example', reportingMta: 'gateway.partner.example', originalMessageId: '<msg_01HSF2MULT@shop.example.com>' }),
      bounce({ recipient: 'karl@partner.example', bounceClass: 'soft', status: '4.3.1', action: 'delayed', reportingMta: 'gateway.partner.example', originalMessageId: '<msg_01HSF2MULT@shop.example.com>' }),
      { kind: 'delivered', recipient: 'lena@partner.example', originalMessageId: '<msg_01HSF2MULT@shop.example.com>' },
    ],
  },
  {
    file: 'exim-plain-failed.eml',
    says: 'reads a classic plain-text Exim bounce heuristically, one fact per failed address',
    format: 'heuristic:exim',
    facts: [
      bounce({
        recipient: 'alice@gone.example.org',
        bounceClass: 'hard',
        status: null,
        diagnostic: expect.stringContaining('550 No such user here'),
        remoteMta: 'mx.gone.example.org',
        originalMessageId: '<msg_01HPKD3J1B@shop.example.com>',
      }),
      bounce({ recipient: 'bob@nodomain.invalid.example', bounceClass: 'hard', status: null, diagnostic: 'Unrouteable address', originalMessageId: '<msg_01HPKD3J1B@shop.example.com>' }),
    ],
  },
  {
    file: 'exim-plain-delayed.eml',
    says: 'reads a plain-text Exim delay warning as a soft, delayed bounce',
    format: 'heuristic:exim',
    facts: [bounce({ recipient: 'carol@slow.example.net', bounceClass: 'soft', status: '4.2.2', action: 'delayed', remoteMta: 'mx.slow.example.net', reportingMta: 'relay.isp.example' })],
  },
  {
    file: 'qmail-plain.eml',
    says: "reads a qmail-send bounce heuristically, taking qmail's (#5.1.1) as the status",
    format: 'heuristic:qmail',
    facts: [
      bounce({ recipient: 'dave@legacy.example', bounceClass: 'hard', status: '5.1.1', diagnostic: 'Sorry, no mailbox here by that name. (#5.1.1)', reportingMta: 'mail.legacy.example', originalMessageId: '<msg_01HPMZ0AA1@shop.example.com>' }),
      bounce({ recipient: 'erin@remote.example.org', bounceClass: 'soft', status: '5.2.2', remoteMta: '203.0.113.15', reportingMta: 'mail.legacy.example', originalMessageId: '<msg_01HPMZ0AA1@shop.example.com>' }),
    ],
  },
  {
    file: 'dsn-latin1.eml',
    says: 'reads a DSN whose parts are ISO-8859-1, decoding the 8-bit diagnostic as Latin-1',
    format: 'dsn',
    facts: [
      bounce({
        recipient: 'renee@fournisseur.example',
        bounceClass: 'hard',
        status: '5.1.1',
        diagnostic: '550 5.1.1 Destinataire inconnu: adresse résiliée',
        reportingMta: 'relais.fournisseur.example',
        originalMessageId: '<msg_01HSLAT1N1@shop.example.com>',
      }),
    ],
  },
];

describe('bounce report corpus', () => {
  it.each(CORPUS)('$file: $says', async ({ file, format, facts }) => {
    const result = await parseReport(fixture(file));
    expect(result).toEqual({ ok: true, format, facts });
  });

  it('gives the same answer through parseDsn as through parseReport', async () => {
    for (const { file } of CORPUS) expect(await parseDsn(fixture(file))).toEqual(await parseReport(fixture(file)));
  });

  it('refuses a feedback report handed to parseDsn, naming its report-type', async () => {
    expect(await parseDsn(fixture('arf-yahoo.eml'))).toEqual({ ok: false, reason: expect.stringContaining('feedback-report') });
  });
});

describe('which status a report means', () => {
  it('finds the code after a reply code before any other dotted number', () => expect(statusIn('host [10.2.5.4]: 550 5.1.1 unknown')).toBe('5.1.1'));
  it('does not mistake part of an IP address for a status', () => expect(statusIn('connect to 10.4.4.1:25 refused')).toBeNull());
  it("reads qmail's (#5.1.1) form", () => expect(statusIn('no mailbox here by that name. (#5.1.1)')).toBe('5.1.1'));
  it('keeps a specific Status field over the diagnostic', () => expect(effectiveStatus('5.2.2', '550 5.1.1 x')).toBe('5.2.2'));
  it('takes the diagnostic code when the Status field is generic', () => expect(effectiveStatus('5.0.0', 'smtp; 550 5.1.1 x')).toBe('5.1.1'));
  it('keeps a generic permanent Status when the diagnostic is only temporary', () => expect(effectiveStatus('5.0.0', '452 4.2.2 full')).toBe('5.0.0'));
  it('uses the diagnostic code when there is no Status field', () => expect(effectiveStatus(null, '550 5.7.1 blocked')).toBe('5.7.1'));
});

describe('hard or soft for a reported failure', () => {
  it('classifies 5.1.1 as hard', () => expect(classifyReportedBounce('5.1.1', '')).toBe('hard'));
  it('classifies a policy block (5.7.1) as soft even when the text says user unknown', () => expect(classifyReportedBounce('5.7.1', 'user unknown')).toBe('soft'));
  it('classifies any temporary status as soft', () => expect(classifyReportedBounce('4.1.1', 'no such user')).toBe('soft'));
  it('falls back to the text for a generic 5.0.0', () => expect(classifyReportedBounce('5.0.0', 'RESOLVER.ADR.RecipNotFound')).toBe('hard'));
  it('falls back to soft for a generic 5.0.0 with no telling text', () => expect(classifyReportedBounce('5.0.0', '554 rejected for policy reasons')).toBe('soft'));
});
