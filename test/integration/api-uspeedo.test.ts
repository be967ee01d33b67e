import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKey, revokeKey } from '../../src/services/keys.js';
import { basic, buildTestApp } from '../helpers/api.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';

/** The request from the seed articles, verbatim but for the host. */
const SEED_BODY = {
  SendEmail: 'sender@yourdomain.com',
  TargetEmailAddress: ['user1@example.com', 'user2@example.com'],
  Subject: 'Your Order Confirmation',
  Content: '<html><body><h1>Order Confirmed</h1></body></html>',
  FromName: 'Your Brand',
};

for (const backend of backends()) {
  describe(`uSpeedo compat API (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    beforeEach(async () => {
      ctx = await createTestContext({ backend });
      app = await buildTestApp(ctx);
    });
    afterEach(async () => {
      await app.close();
      await ctx.close();
    });

    it('sends SendEmailTemplate as a batch, personalised from TemplateVariableParams', async () => {
      const auth = basic(ctx.adminKeyId, ctx.adminSecret);
      const template = await app.inject({
        method: 'POST', url: '/v1/templates', headers: auth,
        payload: { name: 'otp', subject: 'Your code', text: 'Hello {{name}}, your code is {{code}}.' },
      });
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/email/SendEmailTemplate',
        headers: { 'content-type': 'application/json', ...auth },
        payload: {
          SendEmail: 'sender@yourdomain.com', TemplateId: template.json().id, Subject: 'Code for {{name}}', FromName: 'Your Brand',
          EmailContent: [
            { EmailAddress: 'john@example.com', TemplateVariableParams: ['name{##}John', 'code{##}123'] },
            { EmailAddress: 'mary@example.com', TemplateVariableParams: ['name{##}Mary', 'code{##}456'] },
            { EmailAddress: 'broken', TemplateVariableParams: ['name{##}X', 'code{##}1'] },
            { EmailAddress: 'nocode@example.com', TemplateVariableParams: ['name{##}N'] },
          ],
        },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ RetCode: 0, Message: 'success' });
      expect(body.SessionNo).toMatch(/^bat_/);
      expect(body.FailedTargetEmails.map((f: { EmailAddress: string }) => f.EmailAddress)).toEqual(['broken', 'nocode@example.com']);
      const recipients = await app.inject({ method: 'GET', url: `/v1/batches/${body.SessionNo}/recipients`, headers: auth });
      expect(recipients.json().data.map((m: { to: string; subject: string }) => [m.to, m.subject])).toEqual([
        ['john@example.com', 'Code for John'],
        ['mary@example.com', 'Code for Mary'],
      ]);
      const unknown = await app.inject({
        method: 'POST', url: '/api/v1/email/SendEmailTemplate', headers: { 'content-type': 'application/json', ...auth },
        payload: { SendEmail: 'sender@yourdomain.com', TemplateId: 'tpl_nope', EmailContent: [{ EmailAddress: 'a@example.com' }] },
      });
      expect(unknown.statusCode).toBe(422);
      expect(unknown.json()).toMatchObject({ RetCode: 215392, Message: expect.stringMatching(/TemplateId/) });
    });

    it('accepts the seed request unchanged and makes one message per target address', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/email/SendEmail',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...basic(ctx.adminKeyId, ctx.adminSecret) },
        payload: SEED_BODY,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ RetCode: 0, Message: 'success', FailedTargetEmails: [] });
      expect(body.SessionNo).toMatch(/^cnt_/);
      const list = await app.inject({ method: 'GET', url: '/v1/messages', headers: { authorization: `Bearer ${ctx.adminSecret}` } });
      const recipients = list.json().data.map((m: { to: string }) => m.to).sort();
      expect(recipients).toEqual(['user1@example.com', 'user2@example.com']);
    });

    it('lists invalid targets in FailedTargetEmails and still sends to the valid ones', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/email/SendEmail',
        headers: basic(ctx.adminKeyId, ctx.adminSecret),
        payload: { ...SEED_BODY, TargetEmailAddress: ['ok@example.com', 'not-an-address'] },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().FailedTargetEmails).toEqual([{ EmailAddress: 'not-an-address', FailureReason: 'invalid email address' }]);
    });

    it('answers 215393 with 401 for a wrong secret', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/email/SendEmail', headers: basic(ctx.adminKeyId, 'wrong'), payload: SEED_BODY });
      expect(res.statusCode).toBe(401);
      expect(res.json().RetCode).toBe(215393);
    });

    it('answers 215393 for a revoked key', async () => {
      const created = await createKey(ctx.deps, { name: 'temp' });
      await revokeKey(ctx.deps, created.key.id);
      const res = await app.inject({ method: 'POST', url: '/api/v1/email/SendEmail', headers: basic(created.key.id, created.secret), payload: SEED_BODY });
      expect(res.json().RetCode).toBe(215393);
    });

    it('answers 215397 naming the missing parameter', async () => {
      const { Subject: _omit, ...withoutSubject } = SEED_BODY;
      const res = await app.inject({ method: 'POST', url: '/api/v1/email/SendEmail', headers: basic(ctx.adminKeyId, ctx.adminSecret), payload: withoutSubject });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ RetCode: 215397, Message: 'Missing required parameter [Subject]' });
    });

    it('answers 215392 for a malformed sender address, naming SendEmail', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/email/SendEmail', headers: basic(ctx.adminKeyId, ctx.adminSecret), payload: { ...SEED_BODY, SendEmail: 'nope' } });
      expect(res.statusCode).toBe(422);
      expect(res.json().RetCode).toBe(215392);
      expect(res.json().Message).toContain('[SendEmail]');
    });

    it('answers 215392 for malformed JSON, never a 500', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/email/SendEmail',
        headers: { 'content-type': 'application/json', ...basic(ctx.adminKeyId, ctx.adminSecret) },
        payload: '{"SendEmail": ',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().RetCode).toBe(215392);
    });
  });
}
