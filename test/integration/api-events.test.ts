/**
 * Events out through the real API: the event log (`/v1/events`, cursor paging, type filters,
 * workspace isolation), its live SSE stream over a real socket (new events only, Last-Event-ID
 * resume without gaps or repeats), stats from the rollups after real deliveries to an SMTP sink
 * that bounces some addresses, and `/metrics` as Prometheus text with and without a token.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createLogger } from '../../src/lib/logger.js';
import { MetricsRegistry } from '../../src/lib/metrics.js';
import { createKey } from '../../src/services/keys.js';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import { bearer } from '../helpers/api.js';
import { backends, createOtherWorkspace, createTestContext, ManualClock, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { SinkReply, startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

interface SseEvent {
  id: string;
  event: string;
  data: { id: string; type: string; message_id: string | null; recipient: string | null; data: Record<string, unknown> };
}

/**
 * Opens an SSE stream (resolves once the server answered, so its starting point is fixed); `read`
 * collects events until `enough` says so or the server ends the stream, then disconnects.
 */
async function openSse(url: string, headers: Record<string, string>) {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  return {
    read: async (enough: (events: SseEvent[]) => boolean): Promise<SseEvent[]> => {
      const events: SseEvent[] = [];
      let buffer = '';
      const deadline = setTimeout(() => void reader.cancel(), 15_000);
      while (!enough(events)) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += Buffer.from(value).toString();
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          if (fields.event !== undefined) events.push({ id: fields.id ?? '', event: fields.event, data: JSON.parse(fields.data ?? '{}') });
        }
      }
      clearTimeout(deadline);
      await reader.cancel();
      return events;
    },
  };
}

const bounceSink = () =>
  startSmtpSink({
    onRecipient: (a) => (a.startsWith('bad') ? new SinkReply(550, '5.1.1 user unknown') : a.startsWith('soft') ? new SinkReply(552, '5.2.2 mailbox full') : null),
  });

for (const backend of backends()) {
  describe(`events out (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let auth: Record<string, string>;
    let sink: SmtpSink | null = null;
    let pipeline: Pipeline | null = null;

    async function setUp(options: { clock?: ManualClock; metrics?: MetricsRegistry; metricsToken?: string; deliver?: boolean } = {}) {
      ctx = await createTestContext({ backend, ...(options.clock ? { clock: options.clock } : {}) });
      app = await buildApp({
        deps: ctx.deps, logger: createLogger('silent'), bodyLimit: 1024 * 1024, rateLimit: 0,
        ...(options.metrics ? { metrics: options.metrics } : {}), metricsToken: options.metricsToken,
      });
      await app.ready();
      auth = bearer(ctx.adminSecret);
      if (options.deliver) {
        sink = await bounceSink();
        const transport = new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false });
        pipeline = startPipeline(ctx, { transport, ...(options.metrics ? { metrics: options.metrics } : {}) });
      }
    }
    afterEach(async () => {
      await pipeline?.stop();
      await app.close();
      await sink?.close();
      await ctx.close();
      pipeline = null;
      sink = null;
    });

    const get = (url: string, headers = auth) => app.inject({ method: 'GET', url, headers });
    const send = async (to: string, extra: Record<string, unknown> = {}) => {
      const res = await app.inject({ method: 'POST', url: '/v1/emails', headers: auth, payload: { from: 'shop@example.com', to, subject: 'Hi', text: 'x', ...extra } });
      expect(res.statusCode).toBe(202);
      return res.json().messages[0].id as string;
    };
    const settled = (ids: string[]) =>
      waitFor(`${ids.length} messages final`, async () => {
        const rows = await Promise.all(ids.map(async (id) => (await get(`/v1/messages/${id}`)).json().status as string));
        return rows.every((s) => s === 'sent' || s === 'bounced') ? true : undefined;
      });

    it('lists events oldest first, pages by cursor, filters by type and family, and stays in the workspace', async () => {
      await setUp({ deliver: true });
      const ids = [await send('a@example.org', { tags: ['t1'], metadata: { order: '7' } }), await send('bad@example.org'), await send('c@example.org')];
      await settled(ids);
      const all = (await get('/v1/events')).json();
      // bad@ hard-bounced in the SMTP reply: its address is suppressed in the same transaction.
      expect(all.data.map((e: { type: string }) => e.type).sort()).toEqual(
        [...Array(3).fill('message.accepted'), 'message.bounced', 'message.sent', 'message.sent', 'suppression.added'].sort(),
      );
      const acceptedIds = all.data.filter((e: { type: string }) => e.type === 'message.accepted').map((e: { message_id: string }) => e.message_id);
      expect(acceptedIds).toEqual(ids);
      expect(all.data[0]).toEqual({
        id: expect.stringMatching(/^evt_/), type: 'message.accepted', created_at: expect.any(String), message_id: ids[0], batch_id: null,
        recipient: 'a@example.org', data: expect.objectContaining({ tags: ['t1'] }),
      });
      const sentA = all.data.find((e: { type: string; message_id: string }) => e.type === 'message.sent' && e.message_id === ids[0]);
      expect(sentA.data).toMatchObject({ tags: ['t1'], metadata: { order: '7' } });
      expect(all.has_more).toBe(false);

      expect((await get('/v1/events?type=message.sent')).json().data).toHaveLength(2);
      expect((await get('/v1/events?type=message.bounced,message.sent')).json().data).toHaveLength(3);
      expect((await get('/v1/events?type=message.*')).json().data).toHaveLength(6);
      expect((await get('/v1/events?type=batch.*')).json().data).toEqual([]);

      const paged: { id: string }[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 5; page++) {
        const body: { data: { id: string }[]; next_cursor: string | null; has_more: boolean } = (await get(`/v1/events?limit=2${cursor ? `&after=${cursor}` : ''}`)).json();
        paged.push(...body.data);
        cursor = body.next_cursor;
        if (!body.has_more) break;
      }
      expect(paged.map((e: { id: string }) => e.id)).toEqual(all.data.map((e: { id: string }) => e.id));
      // Polling at the end keeps its place: nothing new, the same cursor back.
      expect((await get(`/v1/events?after=${cursor}`)).json()).toEqual({ data: [], next_cursor: cursor, has_more: false });
      const later = await send('d@example.org');
      expect((await get(`/v1/events?after=${cursor}`)).json().data[0]).toMatchObject({ type: 'message.accepted', message_id: later });

      for (const bad of ['message.sen', '*.sent', 'message.s*']) {
        const res = await get(`/v1/events?type=${bad}`);
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'type' });
      }
      expect((await get('/v1/events?after=bm9wZQ')).json().error.code).toBe('invalid_cursor');

      const other = await createOtherWorkspace(ctx.deps);
      expect((await get('/v1/events', bearer(other.secret))).json().data).toEqual([]);
      const reader = await createKey(ctx.deps, { workspace: 'default', name: 'reader', scope: 'read' });
      expect((await get('/v1/events?limit=1', bearer(reader.secret))).json().data).toHaveLength(1);
      const sender = await createKey(ctx.deps, { workspace: 'default', name: 'sender', scope: 'send' });
      expect((await get('/v1/events', bearer(sender.secret))).statusCode).toBe(403);
    });

    it('streams new events live over SSE and resumes after Last-Event-ID without gaps or repeats', async () => {
      await setUp({ deliver: true });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      await send('old@example.org');
      const accepted = (events: SseEvent[]) => events.filter((e) => e.event === 'message.accepted').length;

      const stream = await openSse(`${base}/v1/events/stream?type=message.accepted`, auth);
      const live = [await send('n1@example.org'), await send('n2@example.org'), await send('n3@example.org')];
      const first = await stream.read((events) => accepted(events) >= 3);
      // Only what happened after connecting (not old@), each with its seq as id.
      expect(first.map((e) => e.data.message_id)).toEqual(live);
      const lastId = first.at(-1)!.id;
      expect(first.map((e) => Number(e.id))).toEqual([...first.map((e) => Number(e.id))].sort((a, b) => a - b));

      const missed = [await send('m1@example.org'), await send('m2@example.org')];
      await settled([...live, ...missed]);
      const log = (await get('/v1/events?limit=1000')).json().data as { id: string }[];
      const after = log.slice(log.findIndex((e) => e.id === first.at(-1)!.data.id) + 1);
      const resumed = await openSse(`${base}/v1/events/stream`, { ...auth, 'last-event-id': lastId });
      const rest = await resumed.read((events) => events.length >= after.length);
      // Exactly the log after the last event seen: no gap, no repeat, in order.
      expect(rest.map((e) => e.data.id)).toEqual(after.map((e) => e.id));
      expect(rest.filter((e) => e.event === 'message.accepted').map((e) => e.data.message_id)).toEqual(missed);
      // A reader that paged through the list goes live where its cursor stopped.
      const cursor = (await get('/v1/events?limit=1')).json().next_cursor as string;
      const fromCursor = await (await openSse(`${base}/v1/events/stream?after=${cursor}`, auth)).read((events) => events.length >= log.length - 1);
      expect(fromCursor.map((e) => e.data.id)).toEqual(log.slice(1).map((e) => e.id));

      const bounces = await openSse(`${base}/v1/events/stream?type=message.bounced`, auth);
      const bounced = await send('bad2@example.org');
      expect((await bounces.read((events) => events.length >= 1)).map((e) => [e.event, e.data.message_id])).toEqual([['message.bounced', bounced]]);

      const badResume = await fetch(`${base}/v1/events/stream`, { headers: { ...auth, 'last-event-id': 'evt_x' } });
      expect(badResume.status).toBe(400);
      expect(((await badResume.json()) as { error: { field: string } }).error.field).toBe('Last-Event-ID');
      // A follower still connected does not hold up a graceful shutdown.
      const follower = await fetch(`${base}/v1/events/stream`, { headers: auth });
      expect(follower.status).toBe(200);
      const started = Date.now();
      await app.close();
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('counts deliveries per hour, tag, stream and domain from the rollups; days sum hours; bad queries name the field', async () => {
      const clock = new ManualClock(new Date('2026-03-01T10:15:00Z'));
      await setUp({ clock, deliver: true });
      await settled([
        await send('ok1@example.org', { tags: ['promo'] }),
        await send('ok2@example.org', { tags: ['promo', 'spring'] }),
        await send('bad1@example.org', { tags: ['promo'] }),
        await send('soft1@other.test'),
        await send('ok3@other.test', { tags: ['spring'], stream: 'broadcast' }),
      ]);
      clock.set(new Date('2026-03-01T11:20:00Z'));
      await settled([await send('ok4@example.org', { tags: ['promo'] }), await send('bad2@other.test')]);
      const batch = await app.inject({
        method: 'POST', url: '/v1/batches', headers: auth,
        payload: { from: 'news@example.com', subject: 'News', text: 'x', tags: ['promo'], recipients: [{ email: 'b1@example.org' }, { email: 'b2@other.test' }] },
      });
      expect(batch.statusCode).toBe(202);
      await waitFor('the batch', async () => ((await get(`/v1/batches/${batch.json().id}`)).json().status === 'completed' ? true : undefined));

      const zero = { accepted: 0, sent: 0, delivered: 0, deferred: 0, bounced: 0, bounced_hard: 0, bounced_soft: 0, complained: 0, opened: 0, clicked: 0, unsubscribed: 0 };
      const stats = async (query: string) => {
        const res = await get(`/v1/stats?${query}`);
        expect(res.statusCode).toBe(200);
        return res.json();
      };
      const hours = await stats('from=2026-03-01T10:30:00Z&to=2026-03-01T12:00:00Z');
      expect(hours).toMatchObject({ from: '2026-03-01T10:00:00.000Z', to: '2026-03-01T12:00:00.000Z', interval: 'hour', tag: null });
      expect(hours.buckets).toEqual([
        { ...zero, start: '2026-03-01T10:00:00.000Z', accepted: 5, sent: 3, bounced: 2, bounced_hard: 1, bounced_soft: 1 },
        { ...zero, start: '2026-03-01T11:00:00.000Z', accepted: 4, sent: 3, bounced: 1, bounced_hard: 1 },
      ]);
      expect(hours.totals).toEqual({ ...zero, accepted: 9, sent: 6, bounced: 3, bounced_hard: 2, bounced_soft: 1 });
      const range = 'from=2026-03-01T10:00:00Z&to=2026-03-01T12:00:00Z';
      expect((await stats(`${range}&tag=promo`)).buckets).toMatchObject([
        { accepted: 3, sent: 2, bounced_hard: 1 },
        { accepted: 3, sent: 3, bounced: 0 },
      ]);
      expect((await stats(`${range}&tag=spring`)).totals).toMatchObject({ accepted: 2, sent: 2, bounced: 0 });
      expect((await stats(`${range}&stream=broadcast`)).totals).toMatchObject({ accepted: 3, sent: 3 });
      expect((await stats(`${range}&domain=Other.Test`)).buckets).toMatchObject([
        { accepted: 2, sent: 1, bounced_soft: 1, bounced_hard: 0 },
        { accepted: 2, sent: 1, bounced_hard: 1 },
      ]);
      const days = await stats('from=2026-03-01&to=2026-03-02&interval=day');
      const dayOfHours = await stats('from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z');
      expect(dayOfHours.buckets).toHaveLength(24);
      expect(days.buckets).toEqual([{ start: '2026-03-01T00:00:00.000Z', ...dayOfHours.totals }]);
      expect(days.totals).toEqual(hours.totals);
      const other = await createOtherWorkspace(ctx.deps);
      expect((await get(`/v1/stats?${range}`, bearer(other.secret))).json().totals).toEqual(zero);

      for (const [query, field] of [
        ['interval=week', 'interval'], ['from=yesterday', 'from'], ['to=2026-03-01T10:00:00', 'to'],
        ['from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 'from'], ['from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'to'],
        ['from=2025-01-01&to=2026-03-01&interval=day', 'to'], ['stream=bulk', 'stream'], ['bucket=hour', 'bucket'],
      ]) {
        const res = await get(`/v1/stats?${query}`);
        expect(res.statusCode, query).toBe(400);
        expect(res.json().error, query).toMatchObject({ code: 'validation_failed', field });
      }
    });

    it('serves /metrics as Prometheus text with engine series, and requires the token when one is set', async () => {
      const metrics = new MetricsRegistry();
      await setUp({ metrics, deliver: true });
      await settled([await send('m1@example.org'), await send('m2@example.org'), await send('bad@example.org')]);
      await send('later@example.org', { send_at: new Date(Date.now() + 3600_000).toISOString() });
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const families = new Map<string, { help: boolean; type: string | null }>();
      const samples = new Map<string, number>();
      for (const line of res.body.trimEnd().split('\n')) {
        const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
        if (meta) {
          const family = families.get(meta[2]!) ?? { help: false, type: null };
          if (meta[1] === 'HELP') family.help = true;
          else family.type = meta[3]!;
          families.set(meta[2]!, family);
          continue;
        }
        const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (\S+)$/.exec(line);
        expect(sample, line).not.toBeNull();
        const name = sample![1]!;
        const family = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
        expect(families.get(family), line).toMatchObject({ help: true, type: expect.any(String) });
        samples.set(`${name}${sample![2] ?? ''}`, Number(sample![4]));
      }
      expect(families.get('herald_messages_total')?.type).toBe('counter');
      expect(families.get('herald_transport_send_seconds')?.type).toBe('histogram');
      expect(families.get('herald_queue_messages')?.type).toBe('gauge');
      expect(samples.get('herald_messages_total{outcome="sent"}')).toBe(2);
      expect(samples.get('herald_messages_total{outcome="bounced"}')).toBe(1);
      expect(samples.get('herald_transport_send_seconds_count')).toBe(3);
      expect(samples.get('herald_transport_send_seconds_bucket{le="+Inf"}')).toBe(3);
      expect(samples.get('herald_transport_send_seconds_bucket{le="0.005"}')).toBeLessThanOrEqual(samples.get('herald_transport_send_seconds_bucket{le="10"}')!);
      expect(samples.get('herald_engine_claim_size_count')).toBeGreaterThanOrEqual(1);
      expect(samples.get('herald_engine_in_flight')).toBe(0);
      expect(samples.get('herald_queue_messages{status="queued"}')).toBe(1);
      expect(samples.get('herald_queue_messages{status="sending"}')).toBe(0);
      expect(samples.get('herald_webhook_backlog')).toBe(0);
      expect(samples.get('herald_shaping_destinations_throttled')).toBe(0);
    });

    it('answers /metrics only with the bearer token when --metrics-token is set', async () => {
      await setUp({ metricsToken: 's3cret-token' });
      const scrape = (headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: '/metrics', headers });
      expect((await scrape()).statusCode).toBe(401);
      expect((await scrape()).json().error.code).toBe('metrics_token_required');
      expect((await scrape(bearer('wrong'))).statusCode).toBe(401);
      expect((await scrape(bearer(ctx.adminSecret))).statusCode).toBe(401);
      const ok = await scrape(bearer('s3cret-token'));
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('# TYPE herald_queue_messages gauge');
    });
  });
}
