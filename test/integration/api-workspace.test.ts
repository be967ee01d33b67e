/**
 * `GET`/`PATCH /v1/workspace` and the workspace's tracking default, through fastify.inject: the
 * order a submission's tracking is resolved in (the request's option, then the workspace's, then
 * the server's `--tracking`), scopes and validation, the 422 at PATCH without --public-url, and
 * that acceptance never fails over a setting the request did not send.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { TrackingOptions } from '../../src/core/types.js';
import { createLogger } from '../../src/lib/logger.js';
import { createKey } from '../../src/services/keys.js';
import { backends, createOtherWorkspace, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

const HTML = '<html><body><p><a href="https://shop.example/sale">Shop now</a></p></body></html>';

for (const backend of backends()) {
  describe(`workspace settings (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance | null = null;
    let pipeline: Pipeline | null = null;
    afterEach(async () => {
      await app?.close();
      await pipeline?.stop();
      app = null;
      pipeline = null;
      await ctx.close();
    });

    /** `defaults`: the server's --tracking; `publicUrl: false`: no --public-url, so no tracking at all. */
    async function setUp(options: { publicUrl?: boolean; defaults?: TrackingOptions } = {}) {
      ctx = await createTestContext({ backend });
      if (options.publicUrl !== false) ctx.deps.tracking = { defaults: options.defaults ?? { opens: false, clicks: false } };
      app = await buildApp({ deps: ctx.deps, logger: createLogger('silent'), bodyLimit: 1024 * 1024, rateLimit: 0 });
      await app.ready();
    }

    const auth = (secret = ctx.adminSecret) => ({ authorization: `Bearer ${secret}` });
    const patch = (payload: unknown, secret?: string) => app!.inject({ method: 'PATCH', url: '/v1/workspace', headers: auth(secret), payload: payload as Record<string, unknown> });

    async function setTracking(tracking: Partial<TrackingOptions> | null): Promise<void> {
      const res = await patch({ settings: { tracking } });
      expect(res.statusCode, res.body).toBe(200);
    }

    /** Sends one html email and returns the tracking stored with its content (undefined: none). */
    async function trackingOfSend(extra: Record<string, unknown> = {}): Promise<TrackingOptions | undefined> {
      const res = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'ann@example.org', subject: 'Sale', html: HTML, ...extra },
      });
      expect(res.statusCode, res.body).toBe(202);
      const content = await ctx.store.getContent(res.json().id as string);
      return content?.kind === 'structured' ? content.tracking : undefined;
    }

    it('shows the caller\'s workspace with its settings, and a PATCH changes them', async () => {
      await setUp();
      const reader = await createKey(ctx.deps, { name: 'r', scope: 'read' });
      const shown = await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth(reader.secret) });
      expect(shown.statusCode, shown.body).toBe(200);
      expect(shown.json()).toEqual({ id: ctx.admin.workspaceId, name: 'default', created_at: expect.any(String), settings: { tracking: null } });

      const changed = await patch({ settings: { tracking: { opens: true, clicks: false } } });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json()).toMatchObject({ id: ctx.admin.workspaceId, name: 'default', settings: { tracking: { opens: true, clicks: false } } });
      // A PATCH without the key keeps it; one with only some fields replaces the setting whole.
      expect((await patch({ settings: {} })).json().settings).toEqual({ tracking: { opens: true, clicks: false } });
      expect((await patch({ settings: { tracking: { clicks: true } } })).json().settings).toEqual({ tracking: { clicks: true } });
      const again = await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth(reader.secret) });
      expect(again.json().settings).toEqual({ tracking: { clicks: true } });
      expect((await patch({ settings: { tracking: null } })).json().settings).toEqual({ tracking: null });
      expect((await patch({ settings: { tracking: {} } })).json().settings).toEqual({ tracking: null });

      // Each workspace sees and changes only its own.
      const other = await createOtherWorkspace(ctx.deps);
      await patch({ settings: { tracking: { opens: true } } }, other.secret);
      const mine = await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth() });
      expect(mine.json()).toMatchObject({ name: 'default', settings: { tracking: null } });
      const theirs = await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth(other.secret) });
      expect(theirs.json()).toMatchObject({ id: other.principal.workspaceId, name: 'other', settings: { tracking: { opens: true } } });
    });

    it('needs a full key to change settings and a read key to see them; bad bodies name the field', async () => {
      await setUp();
      const reader = await createKey(ctx.deps, { name: 'r', scope: 'read' });
      const sender = await createKey(ctx.deps, { name: 's', scope: 'send' });
      for (const secret of [reader.secret, sender.secret]) {
        const res = await patch({ settings: { tracking: { opens: true } } }, secret);
        expect(res.statusCode).toBe(403);
        expect(res.json().error).toMatchObject({ code: 'insufficient_scope' });
      }
      const sent = await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth(sender.secret) });
      expect(sent.statusCode).toBe(403);
      expect((await app!.inject({ method: 'GET', url: '/v1/workspace' })).statusCode).toBe(401);

      const cases: [unknown, string][] = [
        [{ settings: { tracking: { opens: 'yes' } } }, 'settings.tracking.opens'],
        [{ settings: { tracking: { open: true } } }, 'settings.tracking.open'],
        [{ settings: { tracking: true } }, 'settings.tracking'],
        [{ settings: { trackin: { opens: true } } }, 'settings.trackin'],
        [{ settings: { tracking: null }, name: 'renamed' }, 'name'],
        [{}, 'settings'],
        [{ settings: 'on' }, 'settings'],
      ];
      for (const [body, field] of cases) {
        const res = await patch(body);
        expect(res.statusCode, JSON.stringify(body)).toBe(400);
        expect(res.json().error, JSON.stringify(body)).toMatchObject({ code: 'validation_failed', field });
      }
      expect((await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth() })).json().settings).toEqual({ tracking: null });
    });

    it('resolves tracking per field: the message\'s option, then the workspace\'s, then the server\'s', async () => {
      await setUp({ defaults: { opens: true, clicks: false } });
      expect(await trackingOfSend()).toEqual({ opens: true, clicks: false });

      await setTracking({ opens: true, clicks: true });
      expect(await trackingOfSend()).toEqual({ opens: true, clicks: true });
      // The message's own option wins over the workspace's, field by field.
      expect(await trackingOfSend({ tracking: { opens: false } })).toEqual({ opens: false, clicks: true });
      expect(await trackingOfSend({ tracking: { opens: false, clicks: false } })).toBeUndefined();

      // The workspace's false turns off the server's default; a field it leaves out follows the server.
      await setTracking({ opens: false });
      expect(await trackingOfSend()).toBeUndefined();
      await setTracking({ clicks: true });
      expect(await trackingOfSend()).toEqual({ opens: true, clicks: true });

      // null: the server's default again.
      await setTracking(null);
      expect(await trackingOfSend()).toEqual({ opens: true, clicks: false });
    });

    it('applies the workspace\'s setting to batches, shown back in options.tracking', async () => {
      await setUp();
      await setTracking({ clicks: true });
      const batch = (tracking?: Partial<TrackingOptions>) => app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: { from: 'news@example.com', subject: 'Hi', html: HTML, ...(tracking ? { tracking } : {}), recipients: ['fay@example.org'] },
      });
      const plain = await batch();
      expect(plain.statusCode, plain.body).toBe(202);
      expect(plain.json().options.tracking).toEqual({ opens: false, clicks: true });
      const own = await batch({ clicks: false, opens: true });
      expect(own.statusCode, own.body).toBe(202);
      expect(own.json().options.tracking).toEqual({ opens: true, clicks: false });
    });

    it('tracks mail sent after a PATCH without an option of its own', async () => {
      await setUp();
      pipeline = startPipeline(ctx, { tracking: { key: randomBytes(32), baseUrl: 'https://mail.example.com' } });
      await setTracking({ opens: true, clicks: true });
      const res = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'gus@example.org', subject: 'Sale', html: HTML },
      });
      expect(res.statusCode, res.body).toBe(202);
      const id = res.json().messages[0].id as string;
      const raw = await waitFor('the outbox copy', async () => (await ctx.store.getOutboxRaw(ctx.admin.workspaceId, id)) ?? undefined, 15_000);
      const html = String((await simpleParser(raw)).html);
      expect(html).toMatch(/<img src="https:\/\/mail\.example\.com\/t\/o\/[^"]+"/);
      expect(html).toMatch(/href="https:\/\/mail\.example\.com\/t\/c\/[^"]+"/);
      expect(html).not.toContain('href="https://shop.example/sale"');
    });

    it('refuses turning tracking on without --public-url at PATCH; acceptance never fails over the workspace\'s setting', async () => {
      await setUp({ publicUrl: false });
      const refused = await patch({ settings: { tracking: { opens: false, clicks: true } } });
      expect(refused.statusCode).toBe(422);
      expect(refused.json().error).toMatchObject({ code: 'tracking_unavailable', field: 'settings.tracking.clicks' });
      expect((await app!.inject({ method: 'GET', url: '/v1/workspace', headers: auth() })).json().settings).toEqual({ tracking: null });
      await setTracking({ opens: false, clicks: false });
      await setTracking(null);

      // Another process, one with --public-url, took the setting: this one sends untracked.
      await ctx.store.updateWorkspaceSettings(ctx.admin.workspaceId, { tracking: { opens: true, clicks: true } });
      expect(await trackingOfSend()).toBeUndefined();
      const batch = await app!.inject({
        method: 'POST', url: '/v1/batches', headers: auth(),
        payload: { from: 'news@example.com', subject: 'Hi', html: HTML, recipients: ['fay@example.org'] },
      });
      expect(batch.statusCode, batch.body).toBe(202);
      expect(batch.json().options.tracking).toEqual({ opens: false, clicks: false });
      // What the request itself asks for is still refused.
      const asked = await app!.inject({
        method: 'POST', url: '/v1/emails', headers: auth(),
        payload: { from: 'news@example.com', to: 'ann@example.org', subject: 'x', html: HTML, tracking: { opens: true } },
      });
      expect(asked.statusCode).toBe(422);
      expect(asked.json().error).toMatchObject({ code: 'tracking_unavailable', field: 'tracking.opens' });
    });
  });
}
