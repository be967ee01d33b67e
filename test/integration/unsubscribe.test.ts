/**
 * Unsubscribe for the broadcast stream, end to end: the RFC 8058 headers the engine writes (and
 * DKIM-signs), the one-click POST as Gmail sends it, the hosted page without JavaScript, refused
 * tokens, `{{unsubscribe_url}}` in templates and the footer for content that shows no link.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { MessageSigner } from '../../src/engine/message-signer.js';
import { createLogger } from '../../src/lib/logger.js';
import { DkimSignerPool } from '../../src/mime/dkim-pool.js';
import { loadDkimKeys } from '../../src/mime/dkim-keys.js';
import { createBatch, type RecipientRow } from '../../src/services/batches.js';
import { getMessage } from '../../src/services/messages.js';
import { getOutboxRaw } from '../../src/services/outbox.js';
import { sendEmail } from '../../src/services/send.js';
import { listSuppressions } from '../../src/services/suppressions.js';
import { createTemplate } from '../../src/services/templates.js';
import { readUnsubscribeToken, unsubscribeToken } from '../../src/tracking/unsubscribe-links.js';
import { dkimKeyPair, dkimRecord, verifyDkim } from '../helpers/dkim-verify.js';
import { backends, createTestContext, tempDir, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

const PUBLIC = 'https://mail.example.com/herald';
const ONE_CLICK = 'List-Unsubscribe=One-Click';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** Every value of header `name` in the head of `raw`, unfolded. */
function headerValues(raw: string, name: string): string[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return head.split('\r\n').flatMap((line) => (line.toLowerCase().startsWith(`${name.toLowerCase()}:`) ? [line.slice(name.length + 1).trim()] : []));
}

/** The one-click URL and the token in a message's List-Unsubscribe header. */
function linkOf(raw: string): { url: string; token: string } {
  const match = /^<(https:\/\/[^>]+\/u\/([^>]+))>/.exec(headerValues(raw, 'List-Unsubscribe')[0] ?? '');
  if (!match) throw new Error('no List-Unsubscribe URL');
  return { url: match[1]!, token: match[2]! };
}

/** `token` with the character at `at` replaced by another base64url character. */
function changedAt(token: string, at: number): string {
  const swap = token[at] === 'A' ? 'B' : 'A';
  return token.slice(0, at) + swap + token.slice(at + 1);
}

async function* rows(list: RecipientRow[]): AsyncGenerator<RecipientRow> {
  yield* list;
}

for (const backend of backends()) {
  describe(`unsubscribe (${backend})`, () => {
    const key = randomBytes(32);
    let ctx: TestContext;
    let pipeline: Pipeline | null = null;
    let app: FastifyInstance | null = null;
    afterEach(async () => {
      await app?.close();
      await pipeline?.stop();
      app = null;
      pipeline = null;
      await ctx.close();
    });

    async function setUp(options: { signer?: MessageSigner } = {}) {
      ctx = await createTestContext({ backend });
      pipeline = startPipeline(ctx, { unsubscribe: { key, baseUrl: () => PUBLIC, footer: true }, ...(options.signer ? { signer: options.signer } : {}) });
      app = await buildApp({ deps: ctx.deps, logger: createLogger('silent'), bodyLimit: 1024 * 1024, rateLimit: 0, unsubscribe: { key } });
      await app.ready();
    }

    async function send(to: string, stream: 'broadcast' | 'transactional', body: { html?: string; text?: string } = { text: 'News' }) {
      const sent = await sendEmail(ctx.deps, ctx.admin, { from: 'News <news@example.com>', to, subject: 'Issue 1', stream, ...body });
      return sent.messages[0]!.id;
    }

    async function settled(id: string, status: string) {
      return waitFor(`message ${id} to be ${status}`, async () => {
        const found = await getMessage(ctx.deps, ctx.admin, id);
        return found.message.status === status ? found : undefined;
      });
    }

    async function delivered(id: string): Promise<string> {
      await settled(id, 'sent');
      return getOutboxRaw(ctx.deps, ctx.admin, id);
    }

    async function eventsOf(type: string) {
      return (await ctx.store.listEvents(ctx.admin.workspaceId, { after: 0, limit: 1000 })).filter((e) => e.type === type);
    }

    function post(url: string, payload = ONE_CLICK, headers: Record<string, string> = FORM) {
      return app!.inject({ method: 'POST', url: new URL(url).pathname.replace(/^\/herald/, ''), headers, payload });
    }

    it('puts exactly one List-Unsubscribe (https; the mailto needs a bounce domain) and List-Unsubscribe-Post into broadcast mail, none into transactional', async () => {
      await setUp();
      const news = await delivered(await send('reader@example.org', 'broadcast'));
      const receipt = await delivered(await send('reader@example.org', 'transactional'));
      const [value, ...more] = headerValues(news, 'List-Unsubscribe');
      expect(more).toEqual([]);
      const { token } = linkOf(news);
      expect(value).toBe(`<${PUBLIC}/u/${token}>`);
      expect(headerValues(news, 'List-Unsubscribe-Post')).toEqual(['List-Unsubscribe=One-Click']);
      expect(token.startsWith('v1.')).toBe(true);
      expect(readUnsubscribeToken(key, token)).toMatchObject({ workspaceId: ctx.admin.workspaceId, recipient: 'reader@example.org', stream: 'broadcast' });
      expect(headerValues(receipt, 'List-Unsubscribe')).toEqual([]);
      expect(headerValues(receipt, 'List-Unsubscribe-Post')).toEqual([]);
      expect(receipt).not.toContain('/u/v1.');
    });

    it('DKIM-signs both headers; mailauth verifies the signature', async () => {
      const pair = dkimKeyPair('rsa');
      const dir = tempDir('herald-dkim-');
      const path = join(dir.path, 'key.pem');
      writeFileSync(path, pair.privatePem);
      const keys = loadDkimKeys([`example.com:s1:${path}`]);
      dir.remove();
      await setUp({ signer: new MessageSigner(new DkimSignerPool({ threads: 1 }), keys) });
      const raw = await delivered(await send('signed@example.org', 'broadcast'));
      const signature = headerValues(raw, 'DKIM-Signature')[0] ?? '';
      const signed = (/\bh=([^;]+)/.exec(signature)?.[1] ?? '').replace(/\s+/g, '').toLowerCase().split(':');
      expect(signed).toEqual(expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post']));
      const verdicts = await verifyDkim(raw, new Map([['s1._domainkey.example.com', dkimRecord(pair.publicKey)]]));
      expect(verdicts.map((v) => v.status.result)).toEqual(['pass']);
    });

    it('takes the one-click POST as Gmail sends it: 200, no redirect, broadcast suppressed once, transactional still sent', async () => {
      await setUp();
      const id = await send('Reader@Example.org', 'broadcast');
      const { url } = linkOf(await delivered(id));
      const first = await post(url);
      expect(first.statusCode).toBe(200);
      expect(first.headers.location).toBeUndefined();
      expect(first.headers['content-type']).toMatch(/^text\/plain/);
      expect(first.body).toMatch(/unsubscribed/i);
      const second = await post(url);
      expect(second.statusCode).toBe(200);
      expect(second.headers.location).toBeUndefined();

      const list = await listSuppressions(ctx.deps, ctx.admin, {});
      expect(list.data.map((s) => [s.email, s.reason, s.scope, s.source])).toEqual([['Reader@example.org', 'unsubscribe', 'broadcast', 'one_click']]);
      expect(await eventsOf('suppression.added')).toHaveLength(1);
      const unsubscribed = await eventsOf('message.unsubscribed');
      expect(unsubscribed).toHaveLength(1);
      expect(unsubscribed[0]).toMatchObject({ messageId: id, recipient: 'Reader@example.org', data: { method: 'one_click', message_id: id, stream: 'broadcast' } });

      // Local parts compare as given, domains in any case: the suppression holds for Reader@EXAMPLE.org.
      await delivered(await send('Reader@example.org', 'transactional'));
      await settled(await send('Reader@EXAMPLE.org', 'broadcast'), 'suppressed');
    });

    it('takes the multipart/form-data variant', async () => {
      await setUp();
      const { url } = linkOf(await delivered(await send('multi@example.org', 'broadcast')));
      const boundary = '----herald' + randomBytes(6).toString('hex');
      const payload = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
      const res = await post(url, payload, { 'content-type': `multipart/form-data; boundary=${boundary}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers.location).toBeUndefined();
      expect((await listSuppressions(ctx.deps, ctx.admin, {})).data.map((s) => s.email)).toEqual(['multi@example.org']);
    });

    it('serves a confirm page whose form posts without JavaScript, then a done page; GET changes nothing', async () => {
      await setUp();
      const id = await send("o'brien@example.org", 'broadcast');
      const { url } = linkOf(await delivered(id));
      const path = new URL(url).pathname.replace(/^\/herald/, '');
      const page = await app!.inject({ method: 'GET', url: path });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.body).toContain('o&#39;brien@example.org');
      expect(page.body).not.toContain("o'brien");
      expect(page.body).not.toMatch(/<script/i);
      expect(page.body).toMatch(/<form method="post">/);
      expect(page.body).toContain('<input type="hidden" name="List-Unsubscribe" value="One-Click">');
      expect((await listSuppressions(ctx.deps, ctx.admin, {})).data).toEqual([]);

      // What a browser posts for that form: its hidden fields, urlencoded, to the page's own URL.
      const fields = [...page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]+)">/g)].map((m): [string, string] => [m[1]!, m[2]!]);
      const done = await post(url, new URLSearchParams(fields).toString());
      expect(done.statusCode).toBe(200);
      expect(done.headers.location).toBeUndefined();
      expect(done.headers['content-type']).toMatch(/^text\/html/);
      expect(done.body).toMatch(/You are unsubscribed/);
      const unsubscribed = await eventsOf('message.unsubscribed');
      expect(unsubscribed.map((e) => e.data.method)).toEqual(['page']);
    });

    it('refuses a changed, a cut and a foreign token with no effect and no redirect', async () => {
      await setUp();
      const id = await send('target@example.org', 'broadcast');
      const { url, token } = linkOf(await delivered(id));
      const base = url.slice(0, -token.length);
      const [, payload = ''] = token.split('.');
      const foreign = unsubscribeToken(randomBytes(32), { workspaceId: ctx.admin.workspaceId, messageId: id, recipient: 'target@example.org', stream: 'broadcast' });
      const bad = [
        changedAt(token, 3 + Math.floor(payload.length / 2)),
        changedAt(token, token.length - 5),
        token.slice(0, -1),
        token.slice(0, token.lastIndexOf('.')),
        foreign,
        'v1.garbage',
      ];
      for (const wrong of bad) {
        const res = await post(base + wrong);
        expect([400, 404], wrong).toContain(res.statusCode);
        expect(res.headers.location).toBeUndefined();
        const page = await app!.inject({ method: 'GET', url: new URL(base + wrong).pathname.replace(/^\/herald/, '') });
        expect(page.statusCode).toBe(404);
        expect(page.headers.location).toBeUndefined();
      }
      const noBody = await post(url, 'List-Unsubscribe=Yes');
      expect(noBody.statusCode).toBe(400);
      expect((await listSuppressions(ctx.deps, ctx.admin, {})).data).toEqual([]);
      expect(await eventsOf('message.unsubscribed')).toEqual([]);
      expect(await eventsOf('suppression.added')).toEqual([]);
    });

    it('renders {{unsubscribe_url}} as the header URL, and adds the footer only to content that shows no link', async () => {
      await setUp();
      const created = await createBatch(ctx.deps, ctx.admin, {
        options: { from: 'news@example.com', subject: 'Hi {{name}}', html: '<p>Hi {{name}}</p><p><a href="{{unsubscribe_url}}">Leave</a></p>', text: 'Leave: {{unsubscribe_url}}' },
        recipients: rows([{ row: 1, email: 'ann@example.org', name: 'Ann' }]),
        requestHash: () => 'unsubscribe-test',
      });
      expect(created.batch.stream).toBe('broadcast');
      const [message] = await ctx.store.listBatchMessages(created.batch.id, { limit: 10 });
      const templated = await delivered(message!.id);
      const { url } = linkOf(templated);
      const parsed = await simpleParser(templated);
      expect(parsed.html).toContain(`<a href="${url}">Leave</a>`);
      expect(parsed.text).toContain(`Leave: ${url}`);
      expect(parsed.html).not.toContain('Unsubscribe</a></div>');

      const bare = await delivered(await send('bare@example.org', 'broadcast', { html: '<html><body><p>News</p></body></html>', text: 'News' }));
      const bareParsed = await simpleParser(bare);
      const bareUrl = linkOf(bare).url;
      expect(bareParsed.html).toMatch(new RegExp(`<a href="${bareUrl.replace(/[.?]/g, '\\$&')}"[^>]*>Unsubscribe</a></div>\\s*</body>`));
      expect(bareParsed.text).toContain(`Unsubscribe: ${bareUrl}`);

      const linked = await delivered(
        await send('linked@example.org', 'broadcast', { html: '<p>News. <a href="https://example.com/preferences">Unsubscribe here</a></p>', text: 'News' }),
      );
      const linkedParsed = await simpleParser(linked);
      expect(linkedParsed.html).not.toContain('/u/v1.');
      expect(linkedParsed.text).not.toContain('/u/v1.');
      expect(headerValues(linked, 'List-Unsubscribe')).toHaveLength(1);
    });

    it('fills {{unsubscribe_url}} per recipient in a /v1/emails template send and in plain broadcast content', async () => {
      await setUp();
      const template = await createTemplate(ctx.deps, ctx.admin, {
        name: 'news',
        subject: 'News for {{name}}',
        html: '<p>Hi {{name}}</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
        text: 'Hi {{name}}. Unsubscribe: {{unsubscribe_url}}',
      });
      const sent = await sendEmail(ctx.deps, ctx.admin, {
        from: 'news@example.com', to: ['a@example.org', 'b@example.org'], template_id: template.template.id, variables: { name: 'all' }, stream: 'broadcast',
      });
      for (const { id } of sent.messages) {
        const raw = await delivered(id);
        const { url } = linkOf(raw);
        const parsed = await simpleParser(raw);
        expect(parsed.html).toContain(`<a href="${url}">Unsubscribe</a>`);
        expect(parsed.html).not.toContain('Unsubscribe</a></div>');
        expect(parsed.text).toContain(`Unsubscribe: ${url}`);
        expect(raw).not.toContain('{{unsubscribe_url}}');
      }
      const receipt = await sendEmail(ctx.deps, ctx.admin, { from: 'news@example.com', to: 'c@example.org', template_id: template.template.id, variables: { name: 'C' } });
      expect((await simpleParser(await delivered(receipt.messages[0]!.id))).html).toContain('<a href="">Unsubscribe</a>');

      const plain = await delivered(await send('plain@example.org', 'broadcast', { html: '<p><a href="{{ unsubscribe_url }}">Leave</a></p>', text: 'Leave: {{unsubscribe_url}}' }));
      const plainParsed = await simpleParser(plain);
      expect(plainParsed.html).toBe(`<p><a href="${linkOf(plain).url}">Leave</a></p>`);
      expect(plainParsed.text).toBe(`Leave: ${linkOf(plain).url}`);
    });
  });
}
