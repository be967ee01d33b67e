import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKey, revokeKey } from '../../src/services/keys.js';
import { basic, bearer, buildTestApp } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';

const EMAIL = { from: 'Shop <shop@example.com>', to: ['ann@example.org'], subject: 'Welcome', text: 'Hello', html: '<p>Hello</p>' };

for (const backend of backends()) {
  describe(`/v1 API (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let auth: Record<string, string>;
    beforeEach(async () => {
      ctx = await createTestContext({ backend, apiMaxRecipients: 10 });
      app = await buildTestApp(ctx, { bodyLimit: 64 * 1024 });
      auth = bearer(ctx.adminSecret);
    });
    afterEach(async () => {
      await app.close();
      await ctx.close();
    });

    const send = (payload: unknown, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/v1/emails', headers: { ...auth, ...headers }, payload: payload as object });

    it('answers 202 with a message per recipient, readable with its timeline', async () => {
      const res = await send({ ...EMAIL, cc: 'bob@example.org', tags: ['welcome'], metadata: { user: '42' } });
      expect(res.statusCode).toBe(202);
      const body = res.json();
      expect(body.messages.map((m: { to: string }) => m.to)).toEqual(['ann@example.org', 'bob@example.org']);
      const one = await app.inject({ method: 'GET', url: `/v1/messages/${body.messages[0].id}`, headers: auth });
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({ status: 'queued', to: 'ann@example.org', from: 'shop@example.com', tags: ['welcome'], metadata: { user: '42' } });
      expect(one.json().events.map((e: { type: string }) => e.type)).toEqual(['message.accepted']);
    });

    // Regression: on PostgreSQL concurrent sends are committed as a group, and one request with
    // text the database cannot store (a NUL character) used to fail all of its group with 500.
    it('a request the store cannot keep fails alone, with a 4xx; its concurrent neighbours are accepted', async () => {
      const bodies = Array.from({ length: 8 }, (_, i) => ({ ...EMAIL, to: `n${i}@example.org`, text: i === 4 ? 'a\u0000b' : `text ${i}` }));
      const answers = await Promise.all(bodies.map((body) => send(body)));
      answers.forEach((res, i) => {
        if (i !== 4) expect(res.statusCode, `request ${i}: ${res.body}`).toBe(202);
      });
      const bad = answers[4]!;
      // SQLite keeps the NUL; PostgreSQL refuses it, and the client is told which part.
      if (bad.statusCode !== 202) {
        expect(bad.statusCode).toBe(400);
        expect(bad.json().error.code).toBe('validation_failed');
      }
    });

    it('also accepts Basic auth with the key id and secret', async () => {
      const res = await send(EMAIL, basic(ctx.adminKeyId, ctx.adminSecret));
      expect(res.statusCode).toBe(202);
    });

    it('replays the original response for a repeated Idempotency-Key and body, and sends once', async () => {
      const first = await send(EMAIL, { 'idempotency-key': 'signup-42' });
      const second = await send(EMAIL, { 'idempotency-key': 'signup-42' });
      expect(second.statusCode).toBe(202);
      expect(second.json()).toEqual(first.json());
      const list = await app.inject({ method: 'GET', url: '/v1/messages', headers: auth });
      expect(list.json().data).toHaveLength(1);
    });

    it('answers 409 for a reused Idempotency-Key with another body', async () => {
      await send(EMAIL, { 'idempotency-key': 'k1' });
      const res = await send({ ...EMAIL, subject: 'Other' }, { 'idempotency-key': 'k1' });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('idempotency_conflict');
    });

    it('refuses a malformed Idempotency-Key', async () => {
      const res = await send(EMAIL, { 'idempotency-key': 'x'.repeat(300) });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_idempotency_key');
    });

    it('answers 400 invalid_json for malformed JSON', async () => {
      const res = await app.inject({ method: 'POST', url: '/v1/emails', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"from":' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_json');
    });

    it('names the field of a wrong type', async () => {
      const res = await send({ ...EMAIL, subject: 42 });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'subject' });
    });

    it('names a missing required field', async () => {
      const { from: _from, ...noFrom } = EMAIL;
      const res = await send(noFrom);
      expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'from' });
    });

    it('refuses unknown fields rather than ignoring a typo', async () => {
      const res = await send({ ...EMAIL, suject: 'typo' });
      expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'suject' });
    });

    it('names an invalid recipient address by its position', async () => {
      const res = await send({ ...EMAIL, to: ['ann@example.org', 'bad@@x'] });
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'invalid_address', field: 'to[1]' });
    });

    it('refuses CR/LF in a custom header value and in a display name', async () => {
      const header = await send({ ...EMAIL, headers: { 'X-Campaign': 'a\r\nBcc: x@evil.org' } });
      expect(header.json().error).toMatchObject({ code: 'header_injection', field: 'headers.X-Campaign' });
      const name = await send({ ...EMAIL, from: { email: 'shop@example.com', name: 'Shop\nBcc: x@evil.org' } });
      expect(name.json().error).toMatchObject({ code: 'header_injection', field: 'from.name' });
    });

    it('answers 413 for a body over the limit', async () => {
      const res = await send({ ...EMAIL, text: 'x'.repeat(70 * 1024) });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('payload_too_large');
    });

    it('answers 422 for too many recipients and writes nothing', async () => {
      const to = Array.from({ length: 11 }, (_, i) => `r${i}@example.org`);
      const res = await send({ ...EMAIL, to });
      expect(res.json().error.code).toBe('too_many_recipients');
      const list = await app.inject({ method: 'GET', url: '/v1/messages', headers: auth });
      expect(list.json().data).toHaveLength(0);
    });

    it('sends by template_id, rendered with the variables (html escaped, subject not)', async () => {
      const template = await app.inject({
        method: 'POST', url: '/v1/templates', headers: auth,
        payload: { name: 'receipt', subject: 'Receipt for {{name}}', html: '<p>Hi {{name}}</p>', text: 'Hi {{name}}' },
      });
      const res = await send({ from: 'shop@example.com', to: 'ann@example.org', template_id: template.json().id, variables: { name: 'Ann & <Co>' } });
      expect(res.statusCode).toBe(202);
      const message = (await app.inject({ method: 'GET', url: `/v1/messages/${res.json().messages[0].id}`, headers: auth })).json();
      expect(message.subject).toBe('Receipt for Ann & <Co>');
      const both = await send({ from: 'shop@example.com', to: 'ann@example.org', template_id: template.json().id, html: '<p>x</p>' });
      expect(both.statusCode).toBe(400);
      expect(both.json().error).toMatchObject({ field: 'template_id' });
    });

    it('answers 422 unknown_template for a template that does not exist', async () => {
      const { text: _t, html: _h, ...noBody } = EMAIL;
      const res = await send({ ...noBody, template_id: 'tpl_missing' });
      expect(res.json().error).toMatchObject({ code: 'unknown_template' });
    });

    it('answers 401 without a key, with a wrong key and with a revoked key', async () => {
      expect((await app.inject({ method: 'POST', url: '/v1/emails', payload: EMAIL })).json().error.code).toBe('missing_api_key');
      expect((await send(EMAIL, bearer('hrld_wrong'))).statusCode).toBe(401);
      const temp = await createKey(ctx.deps, { name: 'temp' });
      await revokeKey(ctx.deps, temp.key.id);
      const revoked = await send(EMAIL, bearer(temp.secret));
      expect(revoked.statusCode).toBe(401);
      expect(revoked.json().error.code).toBe('invalid_api_key');
    });

    it('keeps a read key from sending and a send key from reading', async () => {
      const reader = await createKey(ctx.deps, { name: 'r', scope: 'read' });
      const sender = await createKey(ctx.deps, { name: 's', scope: 'send' });
      expect((await send(EMAIL, bearer(reader.secret))).statusCode).toBe(403);
      expect((await send(EMAIL, bearer(sender.secret))).statusCode).toBe(202);
      expect((await app.inject({ method: 'GET', url: '/v1/messages', headers: bearer(sender.secret) })).statusCode).toBe(403);
      expect((await app.inject({ method: 'GET', url: '/v1/messages', headers: bearer(reader.secret) })).statusCode).toBe(200);
    });

    it("answers 404, not 403, for another workspace's message", async () => {
      const sent = (await send(EMAIL)).json();
      const other = await createOtherWorkspace(ctx.deps);
      const res = await app.inject({ method: 'GET', url: `/v1/messages/${sent.messages[0].id}`, headers: bearer(other.secret) });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    });

    it('filters the message list by status, recipient and tag, and pages with next_cursor', async () => {
      await send({ ...EMAIL, to: 'a@example.org', tags: ['x'] });
      await send({ ...EMAIL, to: 'b@example.org', tags: ['y'] });
      await send({ ...EMAIL, to: 'c@example.org', tags: ['x'] });
      const tagged = await app.inject({ method: 'GET', url: '/v1/messages?tag=x', headers: auth });
      expect(tagged.json().data.map((m: { to: string }) => m.to)).toEqual(['c@example.org', 'a@example.org']);
      const byTo = await app.inject({ method: 'GET', url: '/v1/messages?to=b@example.org&status=queued', headers: auth });
      expect(byTo.json().data).toHaveLength(1);
      const page = await app.inject({ method: 'GET', url: '/v1/messages?limit=2', headers: auth });
      expect(page.json().data).toHaveLength(2);
      const next = await app.inject({ method: 'GET', url: `/v1/messages?limit=2&cursor=${page.json().next_cursor}`, headers: auth });
      expect(next.json()).toMatchObject({ next_cursor: null });
      expect(next.json().data.map((m: { to: string }) => m.to)).toEqual(['a@example.org']);
      const badStatus = await app.inject({ method: 'GET', url: '/v1/messages?status=lost', headers: auth });
      expect(badStatus.json().error).toMatchObject({ code: 'validation_failed', field: 'status' });
      const badCursor = await app.inject({ method: 'GET', url: '/v1/messages?cursor=zzz', headers: auth });
      expect(badCursor.json().error.code).toBe('invalid_cursor');
    });

    it('answers 429 with Retry-After once a key exceeds its rate limit', async () => {
      const limited = await buildTestApp(ctx, { rateLimit: 1 });
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      for (let i = 0; i < 4; i++) {
        const res = await limited.inject({ method: 'GET', url: '/v1/messages', headers: auth });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) retryAfter = String(res.headers['retry-after']);
      }
      await limited.close();
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    });

    it('serves health, readiness, the OpenAPI document and the docs page', async () => {
      expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
      const spec = (await app.inject({ url: '/openapi.json' })).json();
      expect(spec.openapi).toBe('3.1.0');
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/v1/emails', '/v1/messages', '/v1/messages/{id}', '/api/v1/email/SendEmail']));
      expect(spec.paths['/v1/emails'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('send_at');
      const docs = await app.inject({ url: '/docs/' });
      expect(docs.statusCode).toBe(200);
      expect(docs.body).toContain('swagger');
    });

    it('answers an unknown route with route_not_found in the error format', async () => {
      const res = await app.inject({ url: '/v1/nothing', headers: auth });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('route_not_found');
    });
  });
}
