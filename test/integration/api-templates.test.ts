import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKey } from '../../src/services/keys.js';
import { getTemplateVersion, resolveTemplateVersion } from '../../src/services/templates.js';
import { TemplateCache } from '../../src/templates/compile-cache.js';
import { bearer, buildTestApp } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';

const WELCOME = {
  name: 'welcome',
  subject: 'Welcome, {{name}}',
  html: '<p>Hello {{name}}, your code is {{code}}.</p><a href="https://shop.example/start">Start</a>',
  text: 'Hello {{name}}, your code is {{code}}.',
};

for (const backend of backends()) {
  describe(`/v1/templates (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let auth: Record<string, string>;
    beforeEach(async () => {
      ctx = await createTestContext({ backend });
      app = await buildTestApp(ctx);
      auth = bearer(ctx.adminSecret);
    });
    afterEach(async () => {
      await app.close();
      await ctx.close();
    });

    const create = (payload: object, headers = auth) => app.inject({ method: 'POST', url: '/v1/templates', headers, payload });
    const get = (url: string, headers = auth) => app.inject({ method: 'GET', url, headers });

    it('creates version 1 and reports the variables it uses', async () => {
      const res = await create({ ...WELCOME, description: 'Sent after sign-up' });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(body.id).toMatch(/^tpl_/);
      expect(body).toMatchObject({ name: 'welcome', version: 1, latest_version: 1, subject: WELCOME.subject, description: 'Sent after sign-up' });
      expect(body.variables).toEqual(['code', 'name']);
      expect(body.lint).toEqual({ variables: ['code', 'name'], warnings: [] });
      const read = await get(`/v1/templates/${body.id}`);
      expect(read.statusCode).toBe(200);
      expect(read.json()).toMatchObject({ id: body.id, version: 1, html: WELCOME.html, text: WELCOME.text });
    });

    it('saves every update as a new version and keeps the old ones readable', async () => {
      const id = (await create(WELCOME)).json().id;
      const put = await app.inject({
        method: 'PUT',
        url: `/v1/templates/${id}`,
        headers: auth,
        payload: { ...WELCOME, subject: 'Hi {{name}}, welcome aboard' },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({ id, version: 2, latest_version: 2, subject: 'Hi {{name}}, welcome aboard' });
      expect((await get(`/v1/templates/${id}`)).json()).toMatchObject({ version: 2, subject: 'Hi {{name}}, welcome aboard' });
      const first = await get(`/v1/templates/${id}?version=1`);
      expect(first.json()).toMatchObject({ version: 1, latest_version: 2, subject: WELCOME.subject });
      expect((await get(`/v1/templates/${id}?version=3`)).statusCode).toBe(404);
      const versions = await get(`/v1/templates/${id}/versions`);
      expect(versions.json().data.map((v: { version: number }) => v.version)).toEqual([2, 1]);
      expect(versions.json().next_cursor).toBeNull();
      const paged = await get(`/v1/templates/${id}/versions?limit=1`);
      expect(paged.json().data.map((v: { version: number }) => v.version)).toEqual([2]);
      const rest = await get(`/v1/templates/${id}/versions?limit=1&cursor=${paged.json().next_cursor}`);
      expect(rest.json()).toMatchObject({ data: [{ version: 1, subject: WELCOME.subject }], next_cursor: null });
    });

    it('numbers concurrent updates without gaps or collisions', async () => {
      const id = (await create(WELCOME)).json().id;
      const updates = await Promise.all(
        [1, 2, 3, 4, 5].map((n) =>
          app.inject({ method: 'PUT', url: `/v1/templates/${id}`, headers: auth, payload: { ...WELCOME, subject: `v{{n}} ${n}` } }),
        ),
      );
      expect(updates.map((r) => r.json().version).sort()).toEqual([2, 3, 4, 5, 6]);
      const versions = (await get(`/v1/templates/${id}/versions`)).json().data;
      expect(versions.map((v: { version: number }) => v.version)).toEqual([6, 5, 4, 3, 2, 1]);
    });

    it('renders with variables: html escaped, subject and text not, missing variables listed', async () => {
      const id = (await create(WELCOME)).json().id;
      const res = await app.inject({
        method: 'POST',
        url: `/v1/templates/${id}/render`,
        headers: auth,
        payload: { variables: { name: 'Tom & <Jerry>' } },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        subject: 'Welcome, Tom & <Jerry>',
        html: '<p>Hello Tom &amp; &lt;Jerry&gt;, your code is .</p><a href="https://shop.example/start">Start</a>',
        text: 'Hello Tom & <Jerry>, your code is .',
        missing_variables: ['code'],
      });
      await app.inject({ method: 'PUT', url: `/v1/templates/${id}`, headers: auth, payload: { ...WELCOME, subject: 'v2 {{{name}}}' } });
      const old = await app.inject({
        method: 'POST',
        url: `/v1/templates/${id}/render`,
        headers: auth,
        payload: { version: 1, variables: { name: 'Ann', code: 7 } },
      });
      expect(old.json()).toMatchObject({ subject: 'Welcome, Ann', missing_variables: [] });
    });

    it('refuses a template that does not compile with 422 template_invalid naming the part', async () => {
      const res = await create({ ...WELCOME, html: '<p>\n{{#if vip}}\nno close</p>' });
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'template_invalid', field: 'html' });
      expect(res.json().error.message).toMatch(/line 3/);
      const subject = await create({ ...WELCOME, subject: 'Hi {{name' });
      expect(subject.json().error).toMatchObject({ code: 'template_invalid', field: 'subject' });
      const helper = await create({ ...WELCOME, text: '{{shout name}}' });
      expect(helper.json().error).toMatchObject({ code: 'template_invalid', field: 'text' });
      const partial = await create({ ...WELCOME, html: '<p>Hi</p>\n{{#if a}}{{> footer}}{{/if}}' });
      expect(partial.json().error).toMatchObject({ code: 'template_invalid', field: 'html' });
      expect(partial.json().error.message).toMatch(/partials .*line 2/);
      expect((await get('/v1/templates')).json().data).toHaveLength(0);
    });

    it('saves a template with warnings: a relative link and a missing text part with one offered', async () => {
      const res = await create({ name: 'promo', subject: 'Sale', html: '<p>Deals</p><a href="/sale">See</a>' });
      expect(res.statusCode).toBe(201);
      const { lint } = res.json();
      expect(lint.warnings).toEqual([
        { code: 'link_not_absolute', part: 'html', line: 1, message: 'href="/sale" is not an absolute http(s) URL' },
        expect.objectContaining({ code: 'missing_text', part: 'text' }),
      ]);
      expect(lint.suggested_text).toBe('Deals\n\nSee (/sale)');
      expect(res.json().text).toBeNull();
    });

    it('refuses a template without html or text, and fields over their limits', async () => {
      const empty = await create({ name: 'empty', subject: 'Hi' });
      expect(empty.json().error).toMatchObject({ code: 'template_invalid', field: 'html' });
      const long = await create({ ...WELCOME, subject: 'x'.repeat(999) });
      expect(long.json().error).toMatchObject({ code: 'validation_failed', field: 'subject' });
      const name = await create({ ...WELCOME, name: '' });
      expect(name.json().error).toMatchObject({ code: 'validation_failed', field: 'name' });
    });

    it('answers 409 conflict for a name a live template has, and frees the name on delete', async () => {
      const first = (await create(WELCOME)).json();
      const duplicate = await create(WELCOME);
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json().error.code).toBe('conflict');
      const other = (await create({ ...WELCOME, name: 'other' })).json();
      const rename = await app.inject({ method: 'PUT', url: `/v1/templates/${other.id}`, headers: auth, payload: WELCOME });
      expect(rename.statusCode).toBe(409);
      expect((await app.inject({ method: 'DELETE', url: `/v1/templates/${first.id}`, headers: auth })).statusCode).toBe(204);
      expect((await create(WELCOME)).statusCode).toBe(201);
    });

    it('hides a deleted template but keeps its versions for pinned batches', async () => {
      const id = (await create(WELCOME)).json().id;
      const del = await app.inject({ method: 'DELETE', url: `/v1/templates/${id}`, headers: auth });
      expect(del.statusCode).toBe(204);
      expect(del.body).toBe('');
      expect((await get(`/v1/templates/${id}`)).statusCode).toBe(404);
      expect((await get(`/v1/templates/${id}/versions`)).statusCode).toBe(404);
      expect((await get('/v1/templates')).json().data).toHaveLength(0);
      expect((await app.inject({ method: 'DELETE', url: `/v1/templates/${id}`, headers: auth })).statusCode).toBe(404);
      const update = await app.inject({ method: 'PUT', url: `/v1/templates/${id}`, headers: auth, payload: WELCOME });
      expect(update.statusCode).toBe(404);
      const pinned = await getTemplateVersion(ctx.deps, ctx.admin.workspaceId, id, 1);
      expect(pinned).toMatchObject({ templateId: id, version: 1, subject: WELCOME.subject, html: WELCOME.html, variables: ['code', 'name'] });
      await expect(resolveTemplateVersion(ctx.deps, ctx.admin.workspaceId, id)).rejects.toMatchObject({ code: 'unknown_template' });
    });

    it("answers 404 for another workspace's template, which its versions do not leak to", async () => {
      const id = (await create(WELCOME)).json().id;
      const other = await createOtherWorkspace(ctx.deps);
      const theirs = bearer(other.secret);
      expect((await get(`/v1/templates/${id}`, theirs)).json().error.code).toBe('not_found');
      expect((await get(`/v1/templates/${id}/versions`, theirs)).statusCode).toBe(404);
      expect((await app.inject({ method: 'PUT', url: `/v1/templates/${id}`, headers: theirs, payload: WELCOME })).statusCode).toBe(404);
      expect((await app.inject({ method: 'DELETE', url: `/v1/templates/${id}`, headers: theirs })).statusCode).toBe(404);
      expect((await app.inject({ method: 'POST', url: `/v1/templates/${id}/render`, headers: theirs, payload: {} })).statusCode).toBe(404);
      expect((await get('/v1/templates', theirs)).json().data).toHaveLength(0);
      expect(await getTemplateVersion(ctx.deps, other.principal.workspaceId, id, 1)).toBeNull();
      expect((await create(WELCOME, theirs)).statusCode).toBe(201);
    });

    it('lets a send key manage templates and a read key only read them', async () => {
      const reader = bearer((await createKey(ctx.deps, { name: 'r', scope: 'read' })).secret);
      const sender = bearer((await createKey(ctx.deps, { name: 's', scope: 'send' })).secret);
      const denied = await create(WELCOME, reader);
      expect(denied.statusCode).toBe(403);
      expect(denied.json().error.code).toBe('insufficient_scope');
      const created = await create(WELCOME, sender);
      expect(created.statusCode).toBe(201);
      expect((await get(`/v1/templates/${created.json().id}`, reader)).statusCode).toBe(200);
      expect((await app.inject({ method: 'DELETE', url: `/v1/templates/${created.json().id}`, headers: reader })).statusCode).toBe(403);
    });

    it('pages the list newest first with next_cursor, without the bodies', async () => {
      for (const name of ['a', 'b', 'c']) await create({ ...WELCOME, name });
      const first = await get('/v1/templates?limit=2');
      expect(first.json().data.map((t: { name: string }) => t.name)).toEqual(['c', 'b']);
      expect(first.json().data[0]).not.toHaveProperty('html');
      expect(first.json().data[0]).toMatchObject({ version: 1, subject: WELCOME.subject, variables: ['code', 'name'] });
      const next = await get(`/v1/templates?limit=2&cursor=${first.json().next_cursor}`);
      expect(next.json()).toMatchObject({ data: [{ name: 'a' }], next_cursor: null });
      expect((await get('/v1/templates?cursor=zzz')).json().error.code).toBe('invalid_cursor');
    });

    it('documents the routes in /openapi.json', async () => {
      const spec = (await app.inject({ url: '/openapi.json' })).json();
      expect(Object.keys(spec.paths)).toEqual(
        expect.arrayContaining(['/v1/templates', '/v1/templates/{id}', '/v1/templates/{id}/versions', '/v1/templates/{id}/render']),
      );
      expect(Object.keys(spec.paths['/v1/templates/{id}'])).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
      expect(spec.paths['/v1/templates'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('subject');
    });
  });
}

describe('TemplateCache', () => {
  it('compiles each key once and evicts the least recently used beyond its capacity', () => {
    const cache = new TemplateCache(2);
    const parts = { subject: 'Hi {{name}}', text: 'Dear {{name}}' };
    const first = cache.get('tpl_a@1', parts);
    expect(cache.get('tpl_a@1', { subject: 'ignored', text: 'ignored' })).toBe(first);
    expect(first({ name: 'Ann' })).toEqual({ subject: 'Hi Ann', text: 'Dear Ann' });
    cache.get('tpl_b@1', parts);
    cache.get('tpl_a@1', parts);
    cache.get('tpl_c@1', parts);
    expect(cache.size).toBe(2);
    expect(cache.get('tpl_a@1', parts)).toBe(first);
    expect(cache.get('tpl_b@1', parts)).not.toBe(first);
  });
});
