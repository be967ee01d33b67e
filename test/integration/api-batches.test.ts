/**
 * Batches end to end through the real API (inject) and the engine delivering to a real SMTP sink:
 * the three intake forms, pre-check rejections, idempotency, pause/resume/cancel, template fix
 * while paused, canary with approval, guard rails, the export and the audit log.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SmtpRelayTransport } from '../../src/transports/smtp-relay.js';
import { bearer, buildTestApp } from '../helpers/api.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { SinkReply, startSmtpSink, type SinkOptions, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const OPTIONS = { from: 'News <news@example.com>', subject: 'Hello {{name}}', html: '<p>Hi {{name}}, code {{code}}</p>', text: 'Hi {{name}}, code {{code}}' };

function recipients(n: number, prefix = 'r'): { email: string; name: string; variables: { code: string } }[] {
  return Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.org`, name: `Person ${i}`, variables: { code: `C${i}` } }));
}

function multipart(fields: Record<string, string>, csv: string): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----herald${Math.random().toString(16).slice(2)}`;
  const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const file = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="list.csv"\r\nContent-Type: text/csv\r\n\r\n${csv}\r\n--${boundary}--\r\n`;
  return { payload: Buffer.from(parts.join('') + file), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

for (const backend of backends()) {
  describe(`batches (${backend})`, () => {
    let ctx: TestContext;
    let app: FastifyInstance;
    let sink: SmtpSink;
    let pipeline: Pipeline | null = null;
    let auth: Record<string, string>;

    async function setUp(sinkOptions: SinkOptions = {}, deliver = true) {
      ctx = await createTestContext({ backend });
      app = await buildTestApp(ctx, { bodyLimit: 1024 * 1024 });
      auth = bearer(ctx.adminSecret);
      sink = await startSmtpSink(sinkOptions);
      if (deliver) {
        pipeline = startPipeline(ctx, { transport: new SmtpRelayTransport({ url: `smtp://127.0.0.1:${sink.port}`, maxConnections: 2, verifyTls: false }) });
      }
    }
    afterEach(async () => {
      await pipeline?.stop();
      pipeline = null;
      await app.close();
      await sink.close();
      await ctx.close();
    });

    const submit = (body: unknown, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/v1/batches', headers: { ...auth, 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });
    const get = async (id: string) => (await app.inject({ method: 'GET', url: `/v1/batches/${id}`, headers: auth })).json();
    const until = (id: string, status: string, timeoutMs = 20_000) =>
      waitFor(`batch ${id} ${status}`, async () => {
        const batch = await get(id);
        return batch.status === status ? batch : undefined;
      }, timeoutMs);

    describe('intake and delivery', () => {
      beforeEach(() => setUp());

      it('accepts a JSON batch, lists what it refused, personalises each message and completes', async () => {
        const list = [...recipients(20), { email: 'not-an-address' }, { email: 'r3@example.org', name: 'Again', variables: { code: 'X' } }, { email: 'nocode@example.org', name: 'N' }];
        const res = await submit({ ...OPTIONS, tags: ['launch'], recipients: list });
        expect(res.statusCode).toBe(202);
        const batch = res.json();
        expect(batch).toMatchObject({ total: 20, rejected: 3, status: expect.stringMatching(/scheduled|sending/) });
        const rejections = (await app.inject({ method: 'GET', url: `/v1/batches/${batch.id}/rejections`, headers: auth })).json().data;
        expect(rejections.map((r: { row: number; reason: string }) => [r.row, r.reason])).toEqual([[21, 'invalid_address'], [22, 'duplicate'], [23, 'missing_variable']]);
        const done = await until(batch.id, 'completed');
        expect(done.counters).toMatchObject({ total: 20, sent: 20, rejected: 3, queued: 0 });
        expect(sink.received).toHaveLength(20);
        const mail = sink.received.find((m) => m.to[0] === 'r7@example.org')!;
        expect(mail.raw).toMatch(/^Subject: Hello Person 7\r$/m);
        expect(mail.raw).toMatch(/^To: "?Person 7"? <r7@example\.org>\r$/m);
        expect(mail.raw).toContain('code C7');
        const csv = (await app.inject({ method: 'GET', url: `/v1/batches/${batch.id}/export?format=csv`, headers: auth })).body;
        const lines = csv.trim().split('\r\n');
        expect(lines[0]).toBe('email,status,reason,smtp_reply,attempts,message_id,accepted_at,updated_at');
        expect(lines).toHaveLength(1 + 23);
        expect(lines.filter((l) => l.includes(',sent,'))).toHaveLength(20);
        expect(lines.find((l) => l.startsWith("not-an-address"))).toMatch(/rejected,"?invalid_address/);
      });

      it('takes NDJSON with the options on the first line', async () => {
        const body = [JSON.stringify(OPTIONS), ...recipients(5).map((r) => JSON.stringify(r)), '{"email": "bad"}'].join('\n');
        const res = await app.inject({ method: 'POST', url: '/v1/batches', headers: { ...auth, 'content-type': 'application/x-ndjson' }, payload: body });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toMatchObject({ total: 5, rejected: 1 });
        const rejections = (await app.inject({ method: 'GET', url: `/v1/batches/${res.json().id}/rejections`, headers: auth })).json().data;
        expect(rejections[0]).toMatchObject({ row: 7, reason: 'invalid_address' });
        await until(res.json().id, 'completed');
      });

      it('takes a CSV upload: the email column, name, and every other column as a variable', async () => {
        const csv = 'Email;Name;code\r\nann@example.org;Ann;A1\r\nbob@example.org;Bob;B2\r\n';
        const form = multipart({ options: JSON.stringify(OPTIONS) }, csv);
        const res = await app.inject({ method: 'POST', url: '/v1/batches', headers: { ...auth, ...form.headers }, payload: form.payload });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toMatchObject({ total: 2, rejected: 0 });
        await until(res.json().id, 'completed');
        expect(sink.received.find((m) => m.to[0] === 'bob@example.org')!.raw).toContain('code B2');
      });

      it('refuses a CSV without an email column, naming the header, and leaves no batch behind', async () => {
        const form = multipart({ options: JSON.stringify(OPTIONS) }, 'mail,name\r\nann@example.org,Ann\r\n');
        const res = await app.inject({ method: 'POST', url: '/v1/batches', headers: { ...auth, ...form.headers }, payload: form.payload });
        expect(res.statusCode).toBe(422);
        expect(res.json().error).toMatchObject({ code: 'invalid_batch_row', message: expect.stringMatching(/row 1: .*no email column.*mail, name/) });
        expect((await app.inject({ method: 'GET', url: '/v1/batches', headers: auth })).json().data).toHaveLength(0);
      });

      it('refuses ragged CSV rows with the row named, and leaves no batch behind', async () => {
        const form = multipart({ options: JSON.stringify(OPTIONS) }, 'email,name,code\r\nann@example.org,Ann,A\r\nbob@example.org,Bob\r\n');
        const res = await app.inject({ method: 'POST', url: '/v1/batches', headers: { ...auth, ...form.headers }, payload: form.payload });
        expect(res.statusCode).toBe(422);
        expect(res.json().error.message).toMatch(/^row 3: /);
        expect((await app.inject({ method: 'GET', url: '/v1/batches', headers: auth })).json().data).toHaveLength(0);
      });

      it('fails the whole batch on a missing variable with policies.on_missing_variable = fail_batch', async () => {
        const res = await submit({ ...OPTIONS, policies: { on_missing_variable: 'fail_batch' }, recipients: [...recipients(3), { email: 'x@example.org' }] });
        expect(res.statusCode).toBe(422);
        expect(res.json().error.message).toMatch(/^row 4: missing variable code/);
        expect((await app.inject({ method: 'GET', url: '/v1/batches', headers: auth })).json().data).toHaveLength(0);
      });

      it('refuses a template that does not compile before reading recipients', async () => {
        const res = await submit({ ...OPTIONS, html: '<p>{{#if name}}unclosed</p>', recipients: recipients(2) });
        expect(res.statusCode).toBe(422);
        expect(res.json().error).toMatchObject({ code: 'template_invalid' });
      });

      it('answers the same batch for the same Idempotency-Key and body, and 409 for another body', async () => {
        const body = { ...OPTIONS, recipients: recipients(10) };
        const first = await submit(body, { 'idempotency-key': 'campaign-42' });
        const again = await submit(body, { 'idempotency-key': 'campaign-42' });
        expect(again.statusCode).toBe(202);
        expect(again.json().id).toBe(first.json().id);
        expect(again.headers['idempotent-replayed']).toBe('true');
        const other = await submit({ ...body, subject: 'Other' }, { 'idempotency-key': 'campaign-42' });
        expect(other.statusCode).toBe(409);
        await until(first.json().id, 'completed');
        expect(sink.received).toHaveLength(10);
      });

      it('makes a /v1/emails call with more recipients than the threshold a batch, delivered and completed as one', async () => {
        const to = Array.from({ length: 120 }, (_, i) => `many${i}@example.org`);
        const res = await app.inject({ method: 'POST', url: '/v1/emails', headers: auth, payload: { from: 'a@example.com', bcc: to, subject: 'All hands', text: 'x' } });
        expect(res.statusCode).toBe(202);
        const batchId = res.json().batch_id;
        expect(batchId).toMatch(/^bat_/);
        const done = await until(batchId, 'completed');
        expect(done.counters).toMatchObject({ total: 120, sent: 120 });
        const small = await app.inject({ method: 'POST', url: '/v1/emails', headers: auth, payload: { from: 'a@example.com', to: 'one@example.org', subject: 's', text: 'x' } });
        expect(small.json().batch_id).toBeUndefined();
      });

      it('checks the suppression list at acceptance: batch rows are rejected, single sends recorded but never sent', async () => {
        const added = await app.inject({ method: 'POST', url: '/v1/suppressions', headers: auth, payload: { emails: ['r2@example.org', 'solo@example.org'], reason: 'hard_bounce' } });
        expect(added.statusCode).toBe(201);
        await app.inject({ method: 'POST', url: '/v1/suppressions', headers: auth, payload: { email: 'r3@example.org', reason: 'unsubscribe' } });
        const batch = (await submit({ ...OPTIONS, recipients: recipients(5) })).json();
        expect(batch).toMatchObject({ total: 3, rejected: 2 });
        const rejections = (await app.inject({ method: 'GET', url: `/v1/batches/${batch.id}/rejections`, headers: auth })).json().data;
        expect(rejections.map((r: { row: number; reason: string }) => [r.row, r.reason])).toEqual([[3, 'suppressed'], [4, 'suppressed']]);
        // An unsubscribe blocks broadcast mail only: the transactional stream still reaches r3.
        const single = await app.inject({
          method: 'POST', url: '/v1/emails', headers: auth,
          payload: { from: 'a@example.com', to: ['solo@example.org', 'r3@example.org'], subject: 's', text: 'x' },
        });
        expect(single.json().messages).toEqual([
          { id: expect.any(String), to: 'solo@example.org', suppressed: 'hard_bounce' },
          { id: expect.any(String), to: 'r3@example.org' },
        ]);
        await until(batch.id, 'completed');
        await waitFor('the transactional message', () => (sink.received.some((m) => m.to[0] === 'r3@example.org' && /^Subject: s\r$/m.test(m.raw)) ? true : undefined));
        const solo = (await app.inject({ method: 'GET', url: `/v1/messages/${single.json().messages[0].id}`, headers: auth })).json();
        expect(solo.status).toBe('suppressed');
        expect(solo.events.map((e: { type: string }) => e.type)).toEqual(['message.accepted', 'message.suppressed']);
        expect(sink.received.some((m) => m.to[0] === 'solo@example.org' || m.to[0] === 'r2@example.org')).toBe(false);
      });

      it('pins a stored template version', async () => {
        const created = await app.inject({ method: 'POST', url: '/v1/templates', headers: auth, payload: { name: 'welcome', subject: 'Welcome {{name}}', text: 'v1 {{name}}' } });
        const templateId = created.json().id;
        await app.inject({ method: 'PUT', url: `/v1/templates/${templateId}`, headers: auth, payload: { name: 'welcome', subject: 'Welcome {{name}}', text: 'v2 {{name}}' } });
        const res = await submit({ from: 'a@example.com', template_id: templateId, template_version: 1, recipients: [{ email: 'p@example.org', name: 'P' }] });
        expect(res.json().options).toMatchObject({ template_id: templateId, template_version: 1 });
        await until(res.json().id, 'completed');
        expect(sink.received[0]!.raw).toContain('v1 P');
      });
    });

    describe('while it runs', () => {
      it('pauses within a second, takes a fixed template, resumes, and sends nobody twice', async () => {
        await setUp({ dataDelayMs: 20 });
        const res = await submit({ ...OPTIONS, recipients: recipients(120) });
        const id = res.json().id;
        await waitFor('some deliveries', () => (sink.received.length >= 10 ? true : undefined));
        const paused = await app.inject({ method: 'POST', url: `/v1/batches/${id}/pause`, headers: auth, payload: { reason: 'typo in the subject' } });
        expect(paused.statusCode).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const atPause = sink.received.length;
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(sink.received.length).toBe(atPause);
        expect(atPause).toBeLessThan(120);
        const fixed = await app.inject({ method: 'PUT', url: `/v1/batches/${id}/template`, headers: auth, payload: { subject: 'Fixed {{name}}', text: 'fixed {{code}}' } });
        expect(fixed.statusCode).toBe(200);
        await app.inject({ method: 'POST', url: `/v1/batches/${id}/resume`, headers: auth });
        const done = await until(id, 'completed');
        expect(done.counters.sent).toBe(120);
        const perRecipient = new Map<string, number>();
        for (const m of sink.received) perRecipient.set(m.to[0]!, (perRecipient.get(m.to[0]!) ?? 0) + 1);
        expect(perRecipient.size).toBe(120);
        expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
        expect(sink.received.slice(atPause).every((m) => /^Subject: Fixed /m.test(m.raw))).toBe(true);
        const audit = (await app.inject({ method: 'GET', url: '/v1/audit', headers: auth })).json().data.map((e: { action: string }) => e.action);
        expect(audit).toEqual(['batch.resume', 'batch.template', 'batch.pause', 'batch.create']);
      });

      it('cancels: nothing more is sent and the rest is cancelled', async () => {
        await setUp({ dataDelayMs: 20 });
        const id = (await submit({ ...OPTIONS, recipients: recipients(100) })).json().id;
        await waitFor('some deliveries', () => (sink.received.length >= 5 ? true : undefined));
        const res = await app.inject({ method: 'POST', url: `/v1/batches/${id}/cancel`, headers: auth });
        expect(res.json(), res.body).toMatchObject({ status: 'cancelled' });
        await new Promise((resolve) => setTimeout(resolve, 800));
        const after = sink.received.length;
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(sink.received.length).toBe(after);
        const batch = await get(id);
        expect(batch.counters.cancelled + batch.counters.sent).toBe(100);
        expect(batch.counters.cancelled).toBeGreaterThan(0);
        expect((await app.inject({ method: 'POST', url: `/v1/batches/${id}/resume`, headers: auth })).statusCode).toBe(409);
      });

      it('sends a canary sample first, waits for approval, then the rest', async () => {
        await setUp();
        const id = (await submit({ ...OPTIONS, canary: { percent: 10, hold: true }, recipients: recipients(100) })).json().id;
        const waiting = await until(id, 'awaiting_approval');
        expect(sink.received.length).toBe(waiting.sample_size);
        expect(waiting.sample_size).toBeGreaterThan(0);
        expect(waiting.sample_size).toBeLessThan(40);
        await app.inject({ method: 'POST', url: `/v1/batches/${id}/approve`, headers: auth });
        await until(id, 'completed');
        expect(sink.received).toHaveLength(100);
      });

      it('goes on after the hold when the canary is healthy, and pauses when it is not', async () => {
        await setUp({ onRecipient: (a) => (a.startsWith('bad') ? new SinkReply(550, '5.1.1 user unknown') : null) });
        const healthy = (await submit({ ...OPTIONS, canary: { percent: 20, hold: false, hold_seconds: 0 }, recipients: recipients(30) })).json().id;
        await until(healthy, 'completed');
        const list = recipients(40, 'bad').map((r, i) => (i % 2 === 0 ? r : { ...r, email: `ok${i}@example.org` }));
        const sick = (await submit({ ...OPTIONS, canary: { percent: 50, hold: false, hold_seconds: 0 }, recipients: list })).json().id;
        const paused = await until(sick, 'paused');
        expect(paused.status_reason).toMatch(/canary sample: bounce rate/);
      });

      it('pauses itself when the bounce rate crosses the guard rail', async () => {
        await setUp({ onRecipient: (a) => (a.startsWith('bad') ? new SinkReply(550, '5.1.1 user unknown') : null), dataDelayMs: 5 });
        const list = [...recipients(30, 'bad'), ...recipients(200, 'ok')];
        const id = (await submit({ ...OPTIONS, policies: { max_bounce_rate: 0.1, min_outcomes: 20 }, recipients: list })).json().id;
        const paused = await until(id, 'paused');
        expect(paused.status_reason).toMatch(/bounce rate .* exceeds 10\.00%/);
        expect(paused.counters.sent + paused.counters.bounced).toBeLessThan(230);
      });

      it('streams progress over SSE, and a reconnect with Last-Event-ID resumes without a gap', async () => {
        await setUp({ dataDelayMs: 5 });
        await app.listen({ port: 0, host: '127.0.0.1' });
        const address = app.server.address();
        const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
        const id = (await submit({ ...OPTIONS, recipients: recipients(200) })).json().id;
        const read = async (headers: Record<string, string>, stopAfter: (events: { id?: string; event: string }[]) => boolean) => {
          const res = await fetch(`${base}/v1/batches/${id}/events`, { headers: { ...auth, ...headers } });
          expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
          const reader = res.body!.getReader();
          const events: { id?: string; event: string }[] = [];
          let buffer = '';
          while (!stopAfter(events)) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += Buffer.from(value).toString();
            let end: number;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              if (block.startsWith(':')) continue;
              const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
              events.push({ ...(fields.id !== undefined ? { id: fields.id } : {}), event: fields.event ?? '' });
            }
          }
          await reader.cancel();
          return events;
        };
        const first = await read({}, (events) => events.filter((e) => e.event === 'batch.progress').length >= 1);
        expect(first[0]!.event).toBe('batch.state');
        const lastId = first.at(-1)!.id!;
        const rest = await read({ 'last-event-id': lastId }, (events) => events.some((e) => e.event === 'batch.completed'));
        expect(rest.every((e) => Number(e.id) > Number(lastId))).toBe(true);
        expect(rest.at(-1)!.event).toBe('batch.completed');
        expect(rest.some((e) => e.event === 'batch.progress')).toBe(true);
        // A follower still connected does not hold up a graceful shutdown.
        const later = (await submit({ ...OPTIONS, send_at: new Date(Date.now() + 3_600_000).toISOString(), recipients: recipients(3) })).json().id;
        const follower = await fetch(`${base}/v1/batches/${later}/events`, { headers: auth });
        expect(follower.status).toBe(200);
        const started = Date.now();
        await app.close();
        expect(Date.now() - started).toBeLessThan(3000);
      });

      it('never keeps transactional mail waiting behind a broadcast batch', async () => {
        await setUp({ dataDelayMs: 10 });
        const id = (await submit({ ...OPTIONS, recipients: recipients(150) })).json().id;
        await waitFor('batch under way', () => (sink.received.length >= 5 ? true : undefined));
        const email = await app.inject({ method: 'POST', url: '/v1/emails', headers: auth, payload: { from: 'app@example.com', to: 'urgent@example.org', subject: 'reset', text: 'x' } });
        expect(email.statusCode).toBe(202);
        await waitFor('the transactional message', () => (sink.received.some((m) => m.to[0] === 'urgent@example.org') ? true : undefined));
        const batch = await get(id);
        expect(batch.status).toBe('sending');
      });
    });
  });
}
