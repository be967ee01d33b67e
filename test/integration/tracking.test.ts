/**
 * Open and click tracking end to end: mail delivered to a real SMTP sink with its links rewritten
 * and its pixel added, the public endpoints hit through fastify.inject, the events they write
 * (first: true once, even from two processes at once), the stats counts, machine opens, refused
 * tokens (never a redirect to anywhere unsigned, never a 500) and the 422 without --public-url.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createLogger } from '../../src/lib/logger.js';
import { recordOpen } from '../../src/services/tracking.js';
import { signToken } from '../../src/tracking/tokens.js';
import { readClickToken, readOpenToken } from '../../src/tracking/tracking-links.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import type { MessageEvent } from '../../src/core/types.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const PUBLIC = 'https://mail.example.com/herald';
const HUMAN = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const NEWSLETTER =
  '<html><body><h1>Spring sale</h1><p><a href="https://shop.example/sale?utm=news&amp;x=1">Shop now</a> or ' +
  '<a href="https://shop.example/blog">read the blog</a>, write to <a href="mailto:help@example.com">us</a>, ' +
  '<a href="#top">top</a>, <a data-herald-notrack href="https://shop.example/account">account</a>.</p></body></html>';

/** The path the API sees for a public URL (the proxy in front of it strips /herald). */
function pathOf(url: string): string {
  return new URL(url).pathname.replace(/^\/herald/, '');
}

for (const backend of backends()) {
  describe(`open and click tracking (${backend})`, () => {
    const key = randomBytes(32);
    let ctx: TestContext;
    let sink: SmtpSink | null = null;
    let pipeline: Pipeline | null = null;
    let app: FastifyInstance | null = null;
    afterEach(async () => {
      await app?.close();
      await pipeline?.stop();
      await sink?.close();
      app = null;
      pipeline = null;
      sink = null;
      await ctx.close();
    });

    async function setUp(options: { publicUrl?: boolean; defaults?: { opens: boolean; clicks: boolean } } = {}) {
      ctx = await createTestContext({ backend });
      if (options.publicUrl !== false) ctx.deps.tracking = { defaults: options.defaults ?? { opens: false, clicks: false } };
      sink = await startSmtpSink();
      pipeline = startPipeline(ctx, {
        transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false }),
        unsubscribe: { key, baseUrl: () => PUBLIC, footer: true },
        tracking: { key, baseUrl: PUBLIC },
      });
      app = await buildApp({ deps: ctx.deps, logger: createLogger('silent'), bodyLimit: 1024 * 1024, rateLimit: 0, unsubscribe: { key }, tracking: { key } });
      await app.ready();
    }

    const auth = () => ({ authorization: `Bearer ${ctx.adminSecret}` });

    async function send(body: Record<string, unknown>): Promise<string> {
      const res = await app!.inject({ method: 'POST', url: '/v1/emails', headers: auth(), payload: { from: 'News <news@example.com>', subject: 'Sale', ...body } });
      expect(res.statusCode, res.body).toBe(202);
      return res.json().messages[0].id as string;
    }

    /** The html part of the mail delivered to `to`, once it is at the sink. */
    async function deliveredHtml(to: string): Promise<string> {
      const mail = await waitFor(`mail to ${to}`, () => sink!.received.find((m) => m.to.includes(to)));
      const parsed = await simpleParser(mail.raw);
      return typeof parsed.html === 'string' ? parsed.html : '';
    }

    function trackedLinks(html: string): string[] {
      return [...html.matchAll(/href="(https:\/\/mail\.example\.com\/herald\/t\/c\/[^"]+)"/g)].map((m) => m[1]!);
    }

    function pixelOf(html: string): string | null {
      return /<img src="(https:\/\/mail\.example\.com\/herald\/t\/o\/[^"]+)"/.exec(html)?.[1] ?? null;
    }

    async function eventsOf(messageId: string, type: string): Promise<MessageEvent[]> {
      return (await ctx.store.listMessageEvents(ctx.admin.workspaceId, messageId)).filter((e) => e.type === type);
    }

    const hit = (url: string, userAgent = HUMAN, remoteAddress = '198.51.100.7') =>
      app!.inject({ method: 'GET', url, headers: { 'user-agent': userAgent }, remoteAddress });

    it('rewrites the html links and adds a pixel; the first open and every click become events, and stats count them once', async () => {
      await setUp();
      const id = await send({ to: 'ann@example.org', html: NEWSLETTER, text: 'Sale: https://shop.example/sale', stream: 'broadcast', tracking: { opens: true, clicks: true } });
      const html = await deliveredHtml('ann@example.org');
      const links = trackedLinks(html);
      expect(links).toHaveLength(2);
      expect(links.map((l) => readClickToken(key, l.slice(l.lastIndexOf('/') + 1))?.url)).toEqual(['https://shop.example/sale?utm=news&x=1', 'https://shop.example/blog']);
      expect(html).toContain('href="mailto:help@example.com"');
      expect(html).toContain('href="#top"');
      expect(html).toContain('href="https://shop.example/account"');
      expect(html).toMatch(new RegExp(`href="${PUBLIC}/u/v1\\.[^"]+"`));
      const pixel = pixelOf(html);
      expect(pixel).not.toBeNull();
      expect(readOpenToken(key, pixel!.slice(pixel!.lastIndexOf('/') + 1))).toEqual({ workspaceId: ctx.admin.workspaceId, messageId: id });
      await waitFor('sent', async () => ((await ctx.store.getMessage(ctx.admin.workspaceId, id))?.status === 'sent' ? true : undefined));

      for (const agent of [HUMAN, `${HUMAN} again`]) {
        const open = await hit(pathOf(pixel!), agent);
        expect(open.statusCode).toBe(200);
        expect(open.headers['content-type']).toBe('image/gif');
        expect(open.headers['cache-control']).toContain('no-store');
        expect(open.rawPayload.length).toBe(43);
      }
      const opened = await eventsOf(id, 'message.opened');
      expect(opened).toHaveLength(1);
      expect(opened[0]!.data).toMatchObject({ first: true, first_human: true, machine: false, user_agent: HUMAN, ip: '198.51.100.7', message_id: id });
      expect(typeof opened[0]!.data.at).toBe('string');

      for (const link of [links[0]!, links[0]!, links[1]!]) {
        const click = await hit(pathOf(link));
        expect(click.statusCode).toBe(302);
        expect(click.headers.location).toBe(readClickToken(key, link.slice(link.lastIndexOf('/') + 1))!.url);
      }
      const clicked = await eventsOf(id, 'message.clicked');
      expect(clicked.map((e) => [e.data.url, e.data.first, e.data.first_for_link])).toEqual([
        ['https://shop.example/sale?utm=news&x=1', true, true],
        ['https://shop.example/sale?utm=news&x=1', false, false],
        ['https://shop.example/blog', false, true],
      ]);

      const day = new Date().toISOString().slice(0, 10);
      const stats = await app!.inject({ method: 'GET', url: `/v1/stats?from=${day}&interval=day`, headers: auth() });
      expect(stats.statusCode, stats.body).toBe(200);
      expect(stats.json().totals).toMatchObject({ sent: 1, opened: 1, clicked: 1 });
    });

    // Regression: a link with non-ASCII characters was rewritten, but its click answered 500
    // (a Location header may only carry ASCII).
    it('redirects a link with non-ASCII characters to its percent-encoded form', async () => {
      await setUp();
      await send({ to: 'uni@example.org', html: '<p><a href="https://shop.example/日本?q=€">見る</a></p>', tracking: { clicks: true } });
      const [link] = trackedLinks(await deliveredHtml('uni@example.org'));
      const click = await hit(pathOf(link!));
      expect(click.statusCode).toBe(302);
      expect(click.headers.location).toBe('https://shop.example/%E6%97%A5%E6%9C%AC?q=%E2%82%AC');
    });

    it('flags a machine open and reports the first human open after it; repeats write nothing', async () => {
      await setUp();
      const id = await send({ to: 'bob@example.org', html: '<p>Hi <a href="https://shop.example/">shop</a></p>', tracking: { opens: true } });
      const html = await deliveredHtml('bob@example.org');
      expect(trackedLinks(html)).toEqual([]);
      const pixel = pathOf(pixelOf(html)!);
      await waitFor('sent', async () => ((await ctx.store.getMessage(ctx.admin.workspaceId, id))?.status === 'sent' ? true : undefined));
      await hit(pixel, 'Mozilla/5.0', '17.58.101.2');
      await hit(pixel, 'Mozilla/5.0', '17.58.101.3');
      await hit(pixel, HUMAN);
      await hit(pixel, HUMAN);
      const opened = await eventsOf(id, 'message.opened');
      expect(opened.map((e) => [e.data.first, e.data.first_human, e.data.machine, e.data.machine_reason])).toEqual([
        [true, false, true, 'apple_mpp'],
        [false, true, false, undefined],
      ]);
    });

    it('decides the first open atomically: concurrent opens from two processes write first: true once', async () => {
      await setUp();
      const id = await send({ to: 'cat@example.org', html: '<p>Hi</p>', tracking: { opens: true } });
      const token = pixelOf(await deliveredHtml('cat@example.org'))!.split('/').pop()!;
      await waitFor('sent', async () => ((await ctx.store.getMessage(ctx.admin.workspaceId, id))?.status === 'sent' ? true : undefined));
      const second = await ctx.reopen();
      try {
        const other = { ...ctx.deps, store: second };
        const source = { userAgent: HUMAN, ip: '198.51.100.9' };
        const outcomes = await Promise.all([0, 1, 2, 3].map((i) => recordOpen(i % 2 === 0 ? ctx.deps : other, { key }, token, source)));
        expect(outcomes.filter((o) => o.recorded)).toHaveLength(1);
      } finally {
        await second.close();
      }
      const opened = await eventsOf(id, 'message.opened');
      expect(opened.filter((e) => e.data.first === true)).toHaveLength(1);
    });

    it('refuses forged, tampered, foreign and early tokens: a pixel or a 404, never a redirect elsewhere, never an event', async () => {
      await setUp();
      const id = await send({ to: 'dan@example.org', html: '<p><a href="https://shop.example/">shop</a></p>', tracking: { opens: true, clicks: true } });
      const html = await deliveredHtml('dan@example.org');
      const link = trackedLinks(html)[0]!;
      const token = link.split('/').pop()!;
      const [version, payload, mac] = token.split('.');
      const evil = Buffer.from([ctx.admin.workspaceId, id, 'https://evil.example/'].join('\n')).toString('base64url');
      const forged = [
        `${version}.${evil}.${mac}`,
        signToken(randomBytes(32), 'click', [ctx.admin.workspaceId, id, 'https://evil.example/']),
        `${token.slice(0, -2)}AA`,
        `${version}.${payload}`,
        'garbage',
        '%00%0d%0a',
        'x'.repeat(1900),
      ];
      for (const bad of forged) {
        const click = await hit(`/t/c/${bad}`);
        expect(click.statusCode, bad).toBe(404);
        expect(click.headers.location, bad).toBeUndefined();
        expect(click.headers['content-type']).toContain('text/html');
        const open = await hit(`/t/o/${bad}`);
        expect(open.statusCode, bad).toBe(200);
        expect(open.rawPayload.length).toBe(43);
      }
      // Signed with our key, but for another workspace's view of the message: redirects (the URL is ours), records nothing.
      const other = await createOtherWorkspace(ctx.deps);
      const foreignClick = signToken(key, 'click', [other.principal.workspaceId, id, 'https://shop.example/']);
      expect((await hit(`/t/c/${foreignClick}`)).headers.location).toBe('https://shop.example/');
      await hit(`/t/o/${signToken(key, 'open', [other.principal.workspaceId, id])}`);
      // A message not yet sent (scheduled) cannot have been opened.
      const later = await send({ to: 'eve@example.org', html: '<p>x</p>', send_at: new Date(Date.now() + 3600_000).toISOString(), tracking: { opens: true } });
      await hit(`/t/o/${signToken(key, 'open', [ctx.admin.workspaceId, later])}`);
      expect(await eventsOf(id, 'message.clicked')).toEqual([]);
      expect(await eventsOf(id, 'message.opened')).toEqual([]);
      expect(await eventsOf(later, 'message.opened')).toEqual([]);
    });

    it('tracks batch mail per recipient, and applies the server default to requests that do not say', async () => {
      await setUp({ defaults: { opens: true, clicks: false } });
      const batch = await app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: {
          from: 'news@example.com', subject: 'Hi {{name}}', html: '<p><a href="https://shop.example/{{code}}">your offer</a></p>',
          tracking: { clicks: true },
          recipients: [{ email: 'fay@example.org', name: 'Fay', variables: { code: 'F1' } }, { email: 'gus@example.org', name: 'Gus', variables: { code: 'G2' } }],
        },
      });
      expect(batch.statusCode, batch.body).toBe(202);
      expect(batch.json().options.tracking).toEqual({ opens: true, clicks: true });
      for (const [to, code] of [['fay@example.org', 'F1'], ['gus@example.org', 'G2']] as const) {
        const html = await deliveredHtml(to);
        const [link] = trackedLinks(html);
        const clicked = readClickToken(key, link!.split('/').pop()!);
        expect(clicked?.url).toBe(`https://shop.example/${code}`);
        const message = await ctx.store.getMessage(ctx.admin.workspaceId, clicked!.messageId);
        expect(message?.recipient).toBe(to);
        expect(pixelOf(html)).not.toBeNull();
      }
      await send({ to: 'hal@example.org', html: '<p><a href="https://shop.example/">x</a></p>' });
      const html = await deliveredHtml('hal@example.org');
      expect(pixelOf(html)).not.toBeNull();
      expect(trackedLinks(html)).toEqual([]);
      await send({ to: 'ida@example.org', html: '<p>x</p>', tracking: { opens: false } });
      expect(pixelOf(await deliveredHtml('ida@example.org'))).toBeNull();
    });

    it('refuses tracking without --public-url with a 422 naming the field; off is fine', async () => {
      await setUp({ publicUrl: false });
      const email = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'a@example.org', subject: 'x', html: '<p>x</p>', tracking: { opens: true } },
      });
      expect(email.statusCode).toBe(422);
      expect(email.json().error).toMatchObject({ code: 'tracking_unavailable', field: 'tracking.opens' });
      const batch = await app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: { from: 'news@example.com', subject: 'x', html: '<p>x</p>', tracking: { clicks: true }, recipients: ['a@example.org'] },
      });
      expect(batch.statusCode).toBe(422);
      expect(batch.json().error).toMatchObject({ code: 'tracking_unavailable', field: 'tracking.clicks' });
      const bad = await app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: { from: 'news@example.com', subject: 'x', html: '<p>x</p>', tracking: { clicks: 'yes' }, recipients: ['a@example.org'] },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error).toMatchObject({ field: 'tracking.clicks' });
      const off = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'a@example.org', subject: 'x', html: '<p>x</p>', tracking: { opens: false, clicks: false } },
      });
      expect(off.statusCode).toBe(202);
    });
  });
}
