import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../src/core/errors.js';
import { getMessage, listMessages } from '../../src/services/messages.js';
import { acceptRaw, sendEmail } from '../../src/services/send.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';

for (const backend of backends()) {
  describe(`intake services (${backend})`, () => {
    let ctx: TestContext;
    beforeEach(async () => {
      ctx = await createTestContext({ backend, apiMaxRecipients: 5 });
    });
    afterEach(async () => ctx.close());

    it('creates one queued message per distinct recipient across to, cc and bcc', async () => {
      const result = await sendEmail(ctx.deps, ctx.admin, {
        from: 'Shop <shop@example.com>',
        to: ['a@example.org', 'b@example.org'],
        cc: 'a@example.org',
        bcc: [{ email: 'c@Example.ORG' }],
        subject: 'Hi',
        text: 'Hello',
      });
      expect(result.messages.map((m) => m.to)).toEqual(['a@example.org', 'b@example.org', 'c@example.org']);
      const { message, events } = await getMessage(ctx.deps, ctx.admin, result.messages[0]!.id);
      expect(message.status).toBe('queued');
      expect(message.sender).toBe('shop@example.com');
      expect(events.map((e) => e.type)).toEqual(['message.accepted']);
    });

    it('replays the original result for the same idempotency key and body, and refuses another body', async () => {
      const input = { from: 'a@example.com', to: 'b@example.org', subject: 'S', text: 'T' };
      const first = await sendEmail(ctx.deps, ctx.admin, input, { idempotencyKey: 'order-1' });
      const again = await sendEmail(ctx.deps, ctx.admin, input, { idempotencyKey: 'order-1' });
      expect(again).toEqual(first);
      expect((await listMessages(ctx.deps, ctx.admin, {})).data).toHaveLength(1);
      await expect(sendEmail(ctx.deps, ctx.admin, { ...input, text: 'other' }, { idempotencyKey: 'order-1' })).rejects.toMatchObject({
        code: 'idempotency_conflict',
      });
    });

    it('refuses header injection in the subject and names the field', async () => {
      const error = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'b@example.org', subject: 'x\r\nBcc: evil@x.org', text: 't' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HeraldError);
      expect(error).toMatchObject({ code: 'header_injection', field: 'subject' });
    });

    it('refuses more recipients than the limit without writing anything', async () => {
      const to = Array.from({ length: 6 }, (_, i) => `r${i}@example.org`);
      await expect(sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to, text: 't' })).rejects.toMatchObject({ code: 'too_many_recipients' });
      expect((await listMessages(ctx.deps, ctx.admin, {})).data).toHaveLength(0);
    });

    it('never shows one workspace the messages of another', async () => {
      const other = await createOtherWorkspace(ctx.deps);
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: 'b@example.org', text: 't' });
      await expect(getMessage(ctx.deps, other.principal, sent.messages[0]!.id)).rejects.toMatchObject({ code: 'not_found' });
      expect((await listMessages(ctx.deps, other.principal, {})).data).toHaveLength(0);
    });

    it('adds a Message-ID and Date to relayed mail that lacks them, shared by every recipient', async () => {
      const result = await acceptRaw(ctx.deps, ctx.admin, {
        mailFrom: 'app@example.com',
        recipients: ['x@example.org', 'y@example.org'],
        raw: Buffer.from('From: app@example.com\r\nSubject: Relayed\r\n\r\nBody\r\n'),
      });
      const first = await getMessage(ctx.deps, ctx.admin, result.messages[0]!.id);
      const second = await getMessage(ctx.deps, ctx.admin, result.messages[1]!.id);
      expect(first.message.subject).toBe('Relayed');
      expect(first.message.messageIdHeader).toMatch(/^<msg_.+@example\.com>$/);
      expect(second.message.messageIdHeader).toBe(first.message.messageIdHeader);
    });

    it('pages through messages newest first with an opaque cursor', async () => {
      for (let i = 0; i < 5; i++) await sendEmail(ctx.deps, ctx.admin, { from: 'a@example.com', to: `r${i}@example.org`, text: 't' });
      const page1 = await listMessages(ctx.deps, ctx.admin, { limit: 2 });
      const page2 = await listMessages(ctx.deps, ctx.admin, { limit: 2, cursor: page1.nextCursor! });
      const page3 = await listMessages(ctx.deps, ctx.admin, { limit: 2, cursor: page2.nextCursor! });
      const seen = [...page1.data, ...page2.data, ...page3.data].map((m) => m.recipient);
      expect(seen).toEqual(['r4@example.org', 'r3@example.org', 'r2@example.org', 'r1@example.org', 'r0@example.org']);
      expect(page3.nextCursor).toBeNull();
    });
  });
}
