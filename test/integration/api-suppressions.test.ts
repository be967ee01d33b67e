/**
 * `/v1/suppressions` end to end over the real app (inject) on each backend: add one or a list,
 * repeat adds, validation, listing with a reason filter and a cursor, removal, CSV import with
 * bad rows and export round trips, workspace isolation, key scopes, and the events written.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKey } from '../../src/services/keys.js';
import { suppressedAmong } from '../../src/services/suppressions.js';
import { bearer, buildTestApp } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, ManualClock, TEST_DATABASE_URL, type Backend, type TestContext } from '../helpers/harness.js';

interface EventRow {
  recipient: string;
  data: Record<string, unknown>;
}

/** The workspace's events of a type, read straight from the test's database (the port has no such read). */
async function eventsOf(backend: Backend, ctx: TestContext, workspaceId: string, type: string): Promise<EventRow[]> {
  if (backend === 'sqlite') {
    const db = new BetterSqlite3(join(ctx.dataDir, 'herald.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT recipient, data FROM events WHERE workspace_id = ? AND type = ? ORDER BY seq').all(workspaceId, type) as {
        recipient: string;
        data: string;
      }[];
      return rows.map((row) => ({ recipient: row.recipient, data: JSON.parse(row.data) as Record<string, unknown> }));
    } finally {
      db.close();
    }
  }
  // Each test file has its own schema; workspace ids are unique, so only this test's schema answers.
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const schemas = await client.query<{ schema: string }>(
      "SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'events' AND table_schema LIKE 'herald_test_%'",
    );
    for (const { schema } of schemas.rows) {
      const found = await client
        .query<EventRow>(`SELECT recipient, data FROM "${schema}".events WHERE workspace_id = $1 AND type = $2 ORDER BY seq`, [workspaceId, type])
        .catch(() => null); // another file's schema, dropped meanwhile
      if (found && found.rows.length > 0) return found.rows;
    }
    return [];
  } finally {
    await client.end();
  }
}

function parseCsv(text: string): string[][] {
  return text
    .split('\r\n')
    .filter((line) => line !== '')
    .map((line) => line.split(','));
}

for (const backend of backends()) {
  describe(`/v1/suppressions (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let auth: Record<string, string>;
    let clock: ManualClock;
    beforeEach(async () => {
      clock = new ManualClock(new Date('2025-03-01T10:00:00.000Z'));
      ctx = await createTestContext({ backend, clock });
      app = await buildTestApp(ctx);
      auth = bearer(ctx.adminSecret);
    });
    afterEach(async () => {
      await app.close();
      await ctx.close();
    });

    const add = (payload: object, headers = auth) => app.inject({ method: 'POST', url: '/v1/suppressions', headers, payload });
    const get = (url: string, headers = auth) => app.inject({ method: 'GET', url, headers });
    const importCsv = (csv: string, headers = auth) =>
      app.inject({ method: 'POST', url: '/v1/suppressions/import', headers: { ...headers, 'content-type': 'text/csv' }, payload: csv });

    it('adds one address with the domain lower-cased, and a list with the reason’s scope', async () => {
      const one = await add({ email: 'Ann@Example.ORG' });
      expect(one.statusCode).toBe(201);
      expect(one.json().data).toEqual([
        { email: 'Ann@example.org', reason: 'manual', scope: 'all', source: 'api', created_at: '2025-03-01T10:00:00.000Z', change: 'added' },
      ]);
      const list = await add({ emails: ['bob@example.org', 'cy@example.org'], reason: 'unsubscribe' });
      expect(list.statusCode).toBe(201);
      expect(list.json().data.map((e: { email: string; scope: string }) => [e.email, e.scope])).toEqual([
        ['bob@example.org', 'broadcast'],
        ['cy@example.org', 'broadcast'],
      ]);
      const manual = await add({ email: 'dee@example.org', scope: 'broadcast' });
      expect(manual.json().data[0]).toMatchObject({ reason: 'manual', scope: 'broadcast' });
      const all = (await get('/v1/suppressions')).json();
      expect(all.data.map((e: { email: string }) => e.email)).toEqual(['Ann@example.org', 'bob@example.org', 'cy@example.org', 'dee@example.org']);
      expect(all.next_cursor).toBeNull();
      const held = await suppressedAmong(ctx.deps, ctx.admin.workspaceId, 'transactional', ['ann@EXAMPLE.org', 'Ann@EXAMPLE.org', 'bob@example.org']);
      expect([...held]).toEqual([['Ann@EXAMPLE.org', { reason: 'manual', scope: 'all' }]]);
      const broadcast = await suppressedAmong(ctx.deps, ctx.admin.workspaceId, 'broadcast', ['bob@example.org', 'eve@example.org']);
      expect([...broadcast]).toEqual([['bob@example.org', { reason: 'unsubscribe', scope: 'broadcast' }]]);
    });

    it('keeps the first created_at when an address is added again, and takes the new reason', async () => {
      await add({ email: 'ann@example.org' });
      clock.advance(60_000);
      const again = await add({ email: 'ann@example.org', reason: 'complaint' });
      expect(again.statusCode).toBe(201);
      expect(again.json().data[0]).toMatchObject({ reason: 'complaint', scope: 'all', created_at: '2025-03-01T10:00:00.000Z', change: 'updated' });
      const same = await add({ email: 'ann@example.org', reason: 'complaint' });
      expect(same.json().data[0]).toMatchObject({ created_at: '2025-03-01T10:00:00.000Z', change: 'unchanged' });
      const listed = (await get('/v1/suppressions')).json().data;
      expect(listed).toEqual([{ email: 'ann@example.org', reason: 'complaint', scope: 'all', source: 'api', created_at: '2025-03-01T10:00:00.000Z' }]);
    });

    it('names the field of an invalid address, reason or scope', async () => {
      const single = await add({ email: 'not an address' });
      expect(single.statusCode).toBe(422);
      expect(single.json().error).toMatchObject({ code: 'invalid_address', field: 'email' });
      const list = await add({ emails: ['ok@example.org', 'broken@'] });
      expect(list.json().error).toMatchObject({ code: 'invalid_address', field: 'emails[1]' });
      expect((await add({ email: 'a@example.org', reason: 'bored' })).json().error).toMatchObject({ code: 'validation_failed', field: 'reason' });
      const scope = await add({ email: 'a@example.org', reason: 'complaint', scope: 'broadcast' });
      expect(scope.statusCode).toBe(400);
      expect(scope.json().error).toMatchObject({ code: 'validation_failed', field: 'scope' });
      expect((await add({ email: 'a@example.org', emails: ['b@example.org'] })).statusCode).toBe(400);
      expect((await get('/v1/suppressions')).json().data).toEqual([]);
    });

    it('lists by reason and pages with a cursor in email order', async () => {
      await add({ emails: ['e@example.org', 'a@example.org', 'c@example.org', 'd@example.org', 'b@example.org'] });
      await add({ emails: ['h2@example.org', 'h1@example.org'], reason: 'hard_bounce' });
      await add({ email: 'a@example.org', reason: 'unsubscribe' });
      const seen: string[] = [];
      let url = '/v1/suppressions?limit=3';
      for (let pages = 0; pages < 10; pages++) {
        const page = (await get(url)).json();
        seen.push(...page.data.map((e: { email: string; scope: string }) => `${e.email}/${e.scope}`));
        if (page.next_cursor === null) break;
        url = `/v1/suppressions?limit=3&cursor=${page.next_cursor}`;
      }
      expect(seen).toEqual([
        'a@example.org/all', 'a@example.org/broadcast', 'b@example.org/all', 'c@example.org/all', 'd@example.org/all',
        'e@example.org/all', 'h1@example.org/all', 'h2@example.org/all',
      ]);
      const bounced = await get('/v1/suppressions?reason=hard_bounce&limit=1');
      expect(bounced.json().data.map((e: { email: string }) => e.email)).toEqual(['h1@example.org']);
      const rest = (await get(`/v1/suppressions?reason=hard_bounce&limit=1&cursor=${bounced.json().next_cursor}`)).json();
      expect(rest).toMatchObject({ data: [{ email: 'h2@example.org', reason: 'hard_bounce' }], next_cursor: null });
      expect((await get('/v1/suppressions?reason=bored')).json().error).toMatchObject({ code: 'validation_failed', field: 'reason' });
      expect((await get('/v1/suppressions?cursor=bm9wZQ')).json().error.code).toBe('invalid_cursor');
    });

    it('removes an address in one scope or in all, and answers 404 when it is not listed', async () => {
      await add({ email: 'ann@example.org' });
      await add({ email: 'ann@example.org', reason: 'unsubscribe' });
      await add({ email: 'bob@example.org' });
      const del = (email: string, query = '') => app.inject({ method: 'DELETE', url: `/v1/suppressions/${encodeURIComponent(email)}${query}`, headers: auth });
      expect((await del('ann@example.org', '?scope=broadcast')).statusCode).toBe(204);
      expect((await get('/v1/suppressions')).json().data.map((e: { email: string; scope: string }) => `${e.email}/${e.scope}`)).toEqual([
        'ann@example.org/all',
        'bob@example.org/all',
      ]);
      expect((await del('ann@example.org', '?scope=broadcast')).statusCode).toBe(404);
      expect((await del('bob@EXAMPLE.org')).statusCode).toBe(204);
      const missing = await del('bob@example.org');
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('not_found');
      expect((await del('ann@example.org', '?scope=some')).statusCode).toBe(400);
    });

    it('imports a CSV: bad rows are reported by row number, good rows are written', async () => {
      await add({ email: 'kept@example.org', reason: 'complaint' });
      const csv = [
        'Email,Reason,Scope,Note',
        'one@example.org,hard_bounce,,first',
        'not-an-address,manual,,second',
        'two@Example.org,,,third',
        'three@example.org,bored,,fourth',
        'four@example.org,unsubscribe,,fifth',
        'five@example.org,manual,broadcast,sixth',
        'kept@example.org,complaint,,again',
      ].join('\r\n');
      const res = await importCsv(csv);
      expect(res.statusCode).toBe(200);
      const report = res.json();
      expect(report).toMatchObject({ imported: 5, added: 4, updated: 1, unchanged: 0, rejected: 2 });
      expect(report.rejections).toEqual([
        { row: 3, email: 'not-an-address', field: 'email', message: expect.stringContaining('not a valid email address') },
        { row: 5, email: 'three@example.org', field: 'reason', message: expect.stringContaining('must be one of') },
      ]);
      const listed = (await get('/v1/suppressions')).json().data;
      expect(listed.map((e: { email: string; reason: string; scope: string; source: string }) => `${e.email} ${e.reason} ${e.scope} ${e.source}`)).toEqual([
        'five@example.org manual broadcast import',
        'four@example.org unsubscribe broadcast import',
        'kept@example.org complaint all import',
        'one@example.org hard_bounce all import',
        'two@example.org manual all import',
      ]);
      const noEmail = await importCsv('name,reason\r\nAnn,manual\r\n');
      expect(noEmail.statusCode).toBe(422);
      expect(noEmail.json().error).toMatchObject({ code: 'invalid_csv', message: expect.stringContaining('row 1') });
      const ragged = await importCsv('email,reason\r\nsix@example.org,manual\r\nseven@example.org,manual,extra\r\n');
      expect(ragged.json().error).toMatchObject({ code: 'invalid_csv', message: expect.stringContaining('row 3') });
      // The error says how many rows before the bad line were written, and the list agrees.
      const written = Number(/\((\d+) rows before it were imported\)/.exec(ragged.json().error.message)?.[1]);
      const emails = (await get('/v1/suppressions?limit=1000')).json().data.map((e: { email: string }) => e.email);
      expect(emails.includes('six@example.org')).toBe(written === 1);
      const json = await app.inject({ method: 'POST', url: '/v1/suppressions/import', headers: auth, payload: { email: 'x@example.org' } });
      expect(json.statusCode).toBe(415);
      expect(json.json().error.code).toBe('unsupported_import_type');
    });

    it('imports a file larger than one chunk, a later row for an address replacing an earlier one', async () => {
      const lines = ['email,reason'];
      for (let i = 0; i < 4500; i++) lines.push(`r${String(i).padStart(4, '0')}@example.org,manual`);
      lines.push('r0001@example.org,hard_bounce');
      const report = (await importCsv(lines.join('\n'))).json();
      expect(report).toMatchObject({ imported: 4501, added: 4500, updated: 1, rejected: 0 });
      const first = (await get('/v1/suppressions?limit=2')).json().data;
      expect(first.map((e: { email: string; reason: string }) => `${e.email} ${e.reason}`)).toEqual(['r0000@example.org manual', 'r0001@example.org hard_bounce']);
      const exported = parseCsv((await get('/v1/suppressions/export')).body);
      expect(exported).toHaveLength(4501);
    });

    it('exports a CSV that imports into another workspace as the same list', async () => {
      await add({ emails: ['b@example.org', 'a@example.org'], reason: 'hard_bounce' });
      await add({ emails: ['c@example.org', 'a@example.org'], reason: 'unsubscribe' });
      await add({ email: 'd,"quoted"@example.org', scope: 'broadcast' }).then((r) => expect(r.statusCode).toBe(422));
      await add({ email: '"d,q"@example.org', scope: 'broadcast' });
      const exported = await get('/v1/suppressions/export');
      expect(exported.statusCode).toBe(200);
      expect(exported.headers['content-type']).toMatch(/^text\/csv/);
      const rows = parseCsv(exported.body);
      expect(rows[0]).toEqual(['email', 'reason', 'scope', 'source', 'created_at']);
      expect(rows).toHaveLength(6);
      const other = await createOtherWorkspace(ctx.deps);
      const imported = await importCsv(exported.body, bearer(other.secret));
      expect(imported.json()).toMatchObject({ imported: 5, added: 5, rejected: 0 });
      const again = await get('/v1/suppressions/export', bearer(other.secret));
      const strip = (text: string) => text.split('\r\n').map((line) => line.split(',').slice(0, -2).join(','));
      expect(strip(again.body)).toEqual(strip(exported.body));
      expect(again.body).toContain('"""d,q""@example.org",manual,broadcast,import,');
    });

    it('keeps each workspace’s list to itself', async () => {
      await add({ email: 'ann@example.org', reason: 'complaint' });
      const other = bearer((await createOtherWorkspace(ctx.deps)).secret);
      expect((await get('/v1/suppressions', other)).json().data).toEqual([]);
      expect((await get('/v1/suppressions/export', other)).body).toBe('email,reason,scope,source,created_at\r\n');
      const del = await app.inject({ method: 'DELETE', url: '/v1/suppressions/ann@example.org', headers: other });
      expect(del.statusCode).toBe(404);
      expect((await get('/v1/suppressions')).json().data).toHaveLength(1);
    });

    it('lets a read key list and export but not add, remove or import', async () => {
      const reader = bearer((await createKey(ctx.deps, { name: 'r', scope: 'read' })).secret);
      const sender = bearer((await createKey(ctx.deps, { name: 's', scope: 'send' })).secret);
      const denied = await add({ email: 'ann@example.org' }, reader);
      expect(denied.statusCode).toBe(403);
      expect(denied.json().error.code).toBe('insufficient_scope');
      expect((await importCsv('email\r\nann@example.org\r\n', reader)).statusCode).toBe(403);
      expect((await add({ email: 'ann@example.org' }, sender)).statusCode).toBe(201);
      expect((await app.inject({ method: 'DELETE', url: '/v1/suppressions/ann@example.org', headers: reader })).statusCode).toBe(403);
      expect((await get('/v1/suppressions', reader)).json().data).toHaveLength(1);
      expect((await get('/v1/suppressions/export', reader)).statusCode).toBe(200);
      expect((await get('/v1/suppressions', { authorization: 'Bearer nope' })).statusCode).toBe(401);
    });

    it('documents the routes in /openapi.json', async () => {
      const spec = (await app.inject({ url: '/openapi.json' })).json();
      expect(Object.keys(spec.paths['/v1/suppressions'])).toEqual(expect.arrayContaining(['get', 'post']));
      expect(spec.paths['/v1/suppressions/{email}'].delete).toBeDefined();
      expect(spec.paths['/v1/suppressions/import'].post).toBeDefined();
      expect(spec.paths['/v1/suppressions/export'].get).toBeDefined();
    });

    it('writes a suppression.added event per address added or changed, none for a repeat', async () => {
      await add({ emails: ['ann@example.org', 'bob@example.org'], reason: 'hard_bounce' });
      await add({ email: 'ann@example.org', reason: 'hard_bounce' });
      await importCsv('email,reason\r\ncy@example.org,unsubscribe\r\n');
      const events = await eventsOf(backend, ctx, ctx.admin.workspaceId, 'suppression.added');
      expect(events).toEqual([
        { recipient: 'ann@example.org', data: { email: 'ann@example.org', reason: 'hard_bounce', scope: 'all', source: 'api' } },
        { recipient: 'bob@example.org', data: { email: 'bob@example.org', reason: 'hard_bounce', scope: 'all', source: 'api' } },
        { recipient: 'cy@example.org', data: { email: 'cy@example.org', reason: 'unsubscribe', scope: 'broadcast', source: 'import' } },
      ]);
    });
  });
}
