import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FeedbackFact, FeedbackProvider } from '../../src/feedback/feedback-types.js';
import { parseProviderFeedback } from '../../src/feedback/providers.js';

const json = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/feedback/${name}`, import.meta.url), 'utf8')) as unknown;

const noMta = { remoteMta: null, reportingMta: null };

const CORPUS: { provider: FeedbackProvider; file: string; says: string; facts: FeedbackFact[] }[] = [
  {
    provider: 'ses',
    file: 'ses-bounce-permanent.json',
    says: 'unwraps the SNS envelope and reads a Permanent bounce as hard',
    facts: [
      {
        kind: 'bounce',
        recipient: 'missing@example.net',
        bounceClass: 'hard',
        status: '5.1.1',
        action: 'failed',
        diagnostic: '550 5.1.1 user unknown',
        remoteMta: '198.51.100.50',
        reportingMta: 'a8-70.smtp-out.amazonses.com',
        originalMessageId: '<msg_01HSN5E5B1@shop.example.com>',
        providerMessageId: '0102018e74a1b2c3-5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f-000000',
      },
    ],
  },
  {
    provider: 'ses',
    file: 'ses-bounce-transient.json',
    says: 'reads a bare event-publishing Transient/MailboxFull bounce as soft',
    facts: [
      {
        kind: 'bounce',
        recipient: 'full@example.net',
        bounceClass: 'soft',
        status: '5.2.2',
        action: 'failed',
        diagnostic: '552 5.2.2 Mailbox full',
        remoteMta: null,
        reportingMta: 'a8-70.smtp-out.amazonses.com',
        originalMessageId: '<msg_01HSN5E5B2@shop.example.com>',
        providerMessageId: '0102018e74a1c4d5-aaaa-bbbb-cccc-ddddeeeeffff-000000',
      },
    ],
  },
  {
    provider: 'ses',
    file: 'ses-complaint.json',
    says: 'reads a complaint with its feedback type and user agent',
    facts: [
      {
        kind: 'complaint',
        recipient: 'angry@example.net',
        feedbackType: 'abuse',
        userAgent: 'AnyCompany Feedback Loop (V0.01)',
        originalMessageId: '<msg_01HSN5E5C1@shop.example.com>',
        originalRecipient: null,
        arrivalDate: '2024-03-25T12:00:00.000Z',
        providerMessageId: '0102018e74a1d5e6-1234-000000',
      },
    ],
  },
  {
    provider: 'ses',
    file: 'ses-delivery.json',
    says: 'reads a delivery notice',
    facts: [{ kind: 'delivered', recipient: 'happy@example.net', originalMessageId: '<msg_01HSN5E5D1@shop.example.com>', providerMessageId: '0102018e74a1e6f7-5678-000000' }],
  },
  {
    provider: 'sendgrid',
    file: 'sendgrid-events.json',
    says: 'reads a batch: bounce hard, blocked soft, dropped bounced address hard, deferred, delivered, spamreport; skips opens',
    facts: [
      { kind: 'bounce', recipient: 'gone@example.com', bounceClass: 'hard', status: '5.1.1', action: 'failed', diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.', ...noMta, originalMessageId: '<msg_01HSP0SG01@shop.example.com>', providerMessageId: 'LRzXl_NHStOGhQ4kofSm_A' },
      { kind: 'bounce', recipient: 'walled@example.com', bounceClass: 'soft', status: '5.7.1', action: 'failed', diagnostic: expect.stringContaining('spamhaus'), ...noMta, originalMessageId: '<msg_01HSP0SG02@shop.example.com>', providerMessageId: 'Aa1Bb2Cc3Dd4Ee5Ff6Gg7H' },
      { kind: 'bounce', recipient: 'known-bad@example.com', bounceClass: 'hard', status: null, action: 'failed', diagnostic: 'dropped: Bounced Address', ...noMta, originalMessageId: '<msg_01HSP0SG03@shop.example.com>', providerMessageId: 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3S' },
      { kind: 'bounce', recipient: 'later@example.com', bounceClass: 'soft', status: '4.7.1', action: 'delayed', diagnostic: '451 4.7.1 Greylisted, please try again later', ...noMta, originalMessageId: '<msg_01HSP0SG04@shop.example.com>', providerMessageId: 'Qq1Ww2Ee3Rr4Tt5Yy6Uu7I' },
      { kind: 'delivered', recipient: 'reader@example.com', originalMessageId: '<msg_01HSP0SG05@shop.example.com>', providerMessageId: 'Mm1Nn2Bb3Vv4Cc5Xx6Zz7L' },
      { kind: 'complaint', recipient: 'annoyed@example.com', feedbackType: 'abuse', userAgent: null, originalMessageId: null, originalRecipient: null, arrivalDate: null, providerMessageId: 'Pp0Oo9Ii8Uu7Yy6Tt5Rr4E' },
    ],
  },
  {
    provider: 'mailgun',
    file: 'mailgun-permanent.json',
    says: 'reads a permanent failure with its enhanced code as hard',
    facts: [
      {
        kind: 'bounce',
        recipient: 'nobody@example.org',
        bounceClass: 'hard',
        status: '5.1.1',
        action: 'failed',
        diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.',
        remoteMta: 'mx.example.org',
        reportingMta: null,
        originalMessageId: '<20240325120000.1.ABCDEF0123456789@mg.shop.example.com>',
        providerMessageId: '<20240325120000.1.ABCDEF0123456789@mg.shop.example.com>',
      },
    ],
  },
  {
    provider: 'mailgun',
    file: 'mailgun-temporary.json',
    says: 'reads a temporary failure as a soft delay, since Mailgun retries it',
    facts: [
      {
        kind: 'bounce',
        recipient: 'busy@example.org',
        bounceClass: 'soft',
        status: '4.2.2',
        action: 'delayed',
        diagnostic: '452 4.2.2 The email account that you tried to reach is over quota.',
        remoteMta: 'mx.example.org',
        reportingMta: null,
        originalMessageId: '<20240325120500.2.ABCDEF0123456789@mg.shop.example.com>',
        providerMessageId: '<20240325120500.2.ABCDEF0123456789@mg.shop.example.com>',
      },
    ],
  },
  {
    provider: 'mailgun',
    file: 'mailgun-complained.json',
    says: 'reads a complaint',
    facts: [
      {
        kind: 'complaint',
        recipient: 'grumpy@example.org',
        feedbackType: 'abuse',
        userAgent: null,
        originalMessageId: '<20240325121000.3.ABCDEF0123456789@mg.shop.example.com>',
        originalRecipient: null,
        arrivalDate: null,
        providerMessageId: '<20240325121000.3.ABCDEF0123456789@mg.shop.example.com>',
      },
    ],
  },
  {
    provider: 'mailgun',
    file: 'mailgun-delivered.json',
    says: 'reads a delivery',
    facts: [{ kind: 'delivered', recipient: 'fine@example.org', originalMessageId: '<20240325121500.4.ABCDEF0123456789@mg.shop.example.com>', providerMessageId: '<20240325121500.4.ABCDEF0123456789@mg.shop.example.com>' }],
  },
  {
    provider: 'postmark',
    file: 'postmark-hardbounce.json',
    says: 'reads a HardBounce as hard, without the smtp; prefix on its details',
    facts: [{ kind: 'bounce', recipient: 'nouser@example.com', bounceClass: 'hard', status: '5.1.1', action: 'failed', diagnostic: '550 5.1.1 The email account that you tried to reach does not exist.', ...noMta, originalMessageId: null, providerMessageId: '883953f4-6105-42a2-a16a-77a8eac79483' }],
  },
  {
    provider: 'postmark',
    file: 'postmark-softbounce.json',
    says: 'reads a SoftBounce as soft',
    facts: [{ kind: 'bounce', recipient: 'fullbox@example.com', bounceClass: 'soft', status: '5.2.2', action: 'failed', diagnostic: '552 5.2.2 Mailbox full', ...noMta, originalMessageId: null, providerMessageId: 'b1e3c9d2-0f4a-4b8e-9c7d-6a5b4c3d2e1f' }],
  },
  {
    provider: 'postmark',
    file: 'postmark-spamcomplaint.json',
    says: 'reads a SpamComplaint',
    facts: [{ kind: 'complaint', recipient: 'spamreporter@example.com', feedbackType: 'abuse', userAgent: null, originalMessageId: null, originalRecipient: null, arrivalDate: null, providerMessageId: 'c2f4d0e3-1a5b-4c9f-8d7e-7b6c5d4e3f20' }],
  },
  {
    provider: 'postmark',
    file: 'postmark-delivery.json',
    says: 'reads a Delivery',
    facts: [{ kind: 'delivered', recipient: 'john@example.com', originalMessageId: null, providerMessageId: 'd3a5e1f4-2b6c-4daf-9e8f-8c7d6e5f4a31' }],
  },
];

describe('provider webhook corpus', () => {
  it.each(CORPUS)('$provider $file: $says', ({ provider, file, facts }) => {
    expect(parseProviderFeedback(provider, json(file))).toEqual({ ok: true, format: provider, facts });
  });

  it('reads the raw SNS body as posted (text/plain JSON string) the same as parsed JSON', () => {
    const raw = readFileSync(new URL('../fixtures/feedback/ses-bounce-permanent.json', import.meta.url));
    expect(parseProviderFeedback('ses', raw)).toEqual(parseProviderFeedback('ses', json('ses-bounce-permanent.json')));
  });

  it('refuses an SNS SubscriptionConfirmation, which the route must confirm itself', () => {
    expect(parseProviderFeedback('ses', { Type: 'SubscriptionConfirmation', SubscribeURL: 'https://sns.example/confirm' })).toEqual({
      ok: false,
      reason: 'SNS SubscriptionConfirmation message carries no feedback',
    });
  });

  it('refuses a Postmark bounce type that is not a delivery failure', () => {
    const autoReply = { ...(json('postmark-softbounce.json') as object), Type: 'AutoResponder', TypeCode: 64 };
    expect(parseProviderFeedback('postmark', autoReply)).toEqual({ ok: false, reason: 'Postmark bounce type AutoResponder is not a delivery failure' });
  });

  it('keeps a Mailgun permanent failure that expired after retries soft', () => {
    const body = json('mailgun-permanent.json') as { 'event-data': Record<string, unknown> };
    const expired = { ...body, 'event-data': { ...body['event-data'], reason: 'old', 'delivery-status': { code: 0, message: '' } } };
    expect(parseProviderFeedback('mailgun', expired)).toMatchObject({ ok: true, facts: [{ bounceClass: 'soft', action: 'failed' }] });
  });

  it('refuses a SendGrid batch of engagement events only', () => {
    expect(parseProviderFeedback('sendgrid', [{ email: 'a@example.com', event: 'open' }])).toEqual({
      ok: false,
      reason: 'SendGrid batch of 1 events has no bounce, complaint or delivery with a valid email',
    });
  });
});

describe('provider bodies of the wrong shape', () => {
  const WRONG: { provider: FeedbackProvider; body: unknown; reason: string }[] = [
    { provider: 'ses', body: [1, 2], reason: 'SES body is not a JSON object' },
    { provider: 'ses', body: { Type: 'Notification', Message: '{not json' }, reason: 'SNS Message body is not valid JSON' },
    { provider: 'ses', body: { Type: 'Notification', Message: '"a string"' }, reason: 'SNS Message is not a JSON object' },
    { provider: 'ses', body: { notificationType: 'Bounce', bounce: { bouncedRecipients: 'x' } }, reason: 'SES notification has no bouncedRecipients list' },
    { provider: 'ses', body: { notificationType: 'Bounce', bounce: { bouncedRecipients: [{ emailAddress: 42 }] } }, reason: 'SES bouncedRecipients has no valid emailAddress' },
    { provider: 'ses', body: { eventType: 'Open', mail: {} }, reason: 'SES Open notification carries no bounce, complaint or delivery' },
    { provider: 'ses', body: { hello: 'world' }, reason: 'SES notification has neither notificationType nor eventType' },
    { provider: 'sendgrid', body: 'not json at all', reason: 'sendgrid body is not valid JSON' },
    { provider: 'sendgrid', body: 17, reason: 'SendGrid body is not an array of events' },
    { provider: 'sendgrid', body: [null, 'x', { event: 'bounce' }], reason: 'SendGrid batch of 3 events has no bounce, complaint or delivery with a valid email' },
    { provider: 'mailgun', body: { signature: {} }, reason: 'Mailgun body has no event-data object' },
    { provider: 'mailgun', body: { 'event-data': { event: 'failed', recipient: 'a@example.com' } }, reason: 'Mailgun failed event without severity permanent|temporary' },
    { provider: 'mailgun', body: { 'event-data': { event: 'opened', recipient: 'a@example.com' } }, reason: 'Mailgun opened event carries no bounce, complaint or delivery' },
    { provider: 'mailgun', body: { 'event-data': { event: 'delivered', recipient: 'not an address' } }, reason: 'Mailgun delivered event has no valid recipient' },
    { provider: 'postmark', body: { Email: 'a@example.com' }, reason: 'Postmark body has no RecordType' },
    { provider: 'postmark', body: { RecordType: 'Open', Recipient: 'a@example.com' }, reason: 'Postmark Open record carries no bounce, complaint or delivery' },
    { provider: 'postmark', body: { RecordType: 'Bounce', Type: 'HardBounce' }, reason: 'Postmark Bounce without a valid Email' },
    { provider: 'postmark', body: null, reason: 'postmark body is empty' },
  ];
  it.each(WRONG)('$provider: refuses with "$reason"', ({ provider, body, reason }) => {
    expect(parseProviderFeedback(provider, body)).toEqual({ ok: false, reason });
  });

  it('refuses an unknown provider name passed from untyped code', () => {
    expect(parseProviderFeedback('sparkpost' as FeedbackProvider, {})).toEqual({ ok: false, reason: 'unknown feedback provider sparkpost' });
  });

  it('refuses a raw webhook body over 10 MB unread', () => {
    const result = parseProviderFeedback('sendgrid', `[${' '.repeat(11 * 1024 * 1024)}]`);
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('over the 10485760-byte limit') });
  });

  it('refuses an SES bounce listing more than 1,000 recipients', () => {
    const bouncedRecipients = Array.from({ length: 1001 }, (_, i) => ({ emailAddress: `u${i}@example.com` }));
    expect(parseProviderFeedback('ses', { notificationType: 'Bounce', bounce: { bounceType: 'Permanent', bouncedRecipients } })).toEqual({
      ok: false,
      reason: 'SES notification lists more than 1000 recipients',
    });
  });

  it('cuts provider field values at 1,000 characters', () => {
    const result = parseProviderFeedback('postmark', { RecordType: 'Bounce', Type: 'HardBounce', Email: 'a@example.com', Details: 'x'.repeat(5000) });
    expect(result.ok && result.facts[0]?.kind === 'bounce' && result.facts[0].diagnostic?.length).toBe(1000);
  });
});
