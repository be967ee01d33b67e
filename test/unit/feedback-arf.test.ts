import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseArf } from '../../src/feedback/arf.js';
import type { ComplaintFact } from '../../src/feedback/feedback-types.js';
import { parseReport } from '../../src/feedback/report.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url));

const CORPUS: { file: string; says: string; facts: ComplaintFact[] }[] = [
  {
    file: 'arf-yahoo.eml',
    says: "reads a Yahoo feedback-loop report, taking Received-Date for Yahoo's missing Arrival-Date",
    facts: [
      {
        kind: 'complaint',
        recipient: 'mia.k@yahoo.com',
        feedbackType: 'abuse',
        userAgent: 'Yahoo!-Mail-Feedback/2.0',
        originalMessageId: '<msg_01HSHAYAH0@shop.example.com>',
        originalRecipient: 'mia.k@yahoo.com',
        arrivalDate: 'Thu, 21 Mar 2024 18:55:01 +0000',
      },
    ],
  },
  {
    file: 'arf-microsoft-jmrp.eml',
    says: 'reads a Microsoft JMRP report, naming the complainer from X-HmXmrOriginalRecipient when To is redacted',
    facts: [
      {
        kind: 'complaint',
        recipient: 'noah.w@outlook.com',
        feedbackType: 'abuse',
        userAgent: 'Hotmail FBL',
        originalMessageId: '<msg_01HSJ8JMRP@shop.example.com>',
        originalRecipient: null,
        arrivalDate: 'Fri, 22 Mar 2024 07:12:44 -0700',
      },
    ],
  },
  {
    file: 'arf-aol.eml',
    says: 'reads an AOL report with a redacted recipient by its Message-ID alone',
    facts: [
      {
        kind: 'complaint',
        recipient: null,
        feedbackType: 'abuse',
        userAgent: 'AOL SComp',
        originalMessageId: '<msg_01HSKA0L00@shop.example.com>',
        originalRecipient: null,
        arrivalDate: 'Sat, 23 Mar 2024 02:10:12 EDT',
      },
    ],
  },
];

describe('complaint report corpus', () => {
  it.each(CORPUS)('$file: $says', async ({ file, facts }) => {
    expect(await parseReport(fixture(file))).toEqual({ ok: true, format: 'arf', facts });
    expect(await parseArf(fixture(file))).toEqual({ ok: true, format: 'arf', facts });
  });

  it('refuses a report without the original message that names no recipient either', async () => {
    expect(await parseReport(fixture('arf-no-original.eml'))).toEqual({
      ok: false,
      reason: 'feedback report names neither the complaining recipient nor the original message',
    });
  });

  it('keeps what it can read of a report without the original message when Original-Rcpt-To names the recipient', async () => {
    const raw = fixture('arf-yahoo.eml').toString('latin1');
    const withoutOriginal = raw.slice(0, raw.indexOf('------=Part_1711047792_283913\nContent-Type: message/rfc822')) + '------=Part_1711047792_283913--\n';
    expect(await parseArf(withoutOriginal)).toMatchObject({ ok: true, facts: [{ recipient: 'mia.k@yahoo.com', originalMessageId: null }] });
  });

  it('gives one complaint per Original-Rcpt-To field', async () => {
    const raw = fixture('arf-yahoo.eml').toString('latin1').replace('Original-Rcpt-To: mia.k@yahoo.com\n', 'Original-Rcpt-To: mia.k@yahoo.com\nOriginal-Rcpt-To: <leo.p@yahoo.com>\n');
    const result = await parseArf(raw);
    expect(result.ok && result.facts.map((fact) => fact.kind === 'complaint' && fact.recipient)).toEqual(['mia.k@yahoo.com', 'leo.p@yahoo.com']);
  });

  it('refuses a feedback report without Feedback-Type', async () => {
    const raw = fixture('arf-yahoo.eml').toString('latin1').replace('Feedback-Type: abuse\n', '');
    expect(await parseArf(raw)).toEqual({ ok: false, reason: 'feedback report has no Feedback-Type' });
  });

  it('refuses a delivery report handed to parseArf, naming its report-type', async () => {
    expect(await parseArf(fixture('postfix-user-unknown.eml'))).toEqual({ ok: false, reason: expect.stringContaining('delivery-status') });
  });
});
