/**
 * `/v1/batches`: submit (JSON, NDJSON or CSV upload, streamed), read with counters, steer
 * (pause, resume, cancel, approve, template change), list rejections and recipients, export,
 * and follow live over Server-Sent Events. Plus `/v1/audit`. Routes call services only.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { changeBatchTemplate, controlBatch, exportBatch, getBatch, listAudit, listBatches, listRecipients, listRejections, type TemplateChange } from '../../../services/batch-control.js';
import { createBatch } from '../../../services/batches.js';
import { authenticate } from '../../auth.js';
import { readBatchBody } from '../../batch-body.js';
import { auditView, batchSummaryView, batchView, rejectionView } from '../../batch-views.js';
import type { ApiContext } from '../../context.js';
import { IdParams, PageQuery, parseLimit, type IdParamsT, type PageQueryT } from '../../schemas.js';
import { messageView } from '../../views.js';
import { streamBatchEvents } from './batch-events.js';

const ANY = { type: 'object', additionalProperties: true } as const;

export interface BatchRouteOptions {
  /** Largest submission body, bytes. */
  maxBytes: number;
}

/** Intake lives in its own scope: its body is streamed, never parsed whole. */
async function intakeRoutes(app: FastifyInstance, ctx: ApiContext, options: BatchRouteOptions): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.post(
    '/v1/batches',
    {
      bodyLimit: options.maxBytes,
      schema: {
        tags: ['batches'],
        summary: 'Submit a batch: JSON {…options, recipients:[…]}, NDJSON (options line, then a recipient per line) or multipart (options + CSV file)',
        security: [{ bearer: [] }],
        response: { 200: ANY, 202: ANY, '4xx': Type.Ref('Error'), '5xx': Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const body = await readBatchBody(request.body as Readable, request.headers, options.maxBytes);
      const key = request.headers['idempotency-key'];
      const created = await createBatch(ctx.deps, principal, {
        options: body.options,
        recipients: body.recipients,
        requestHash: body.requestHash,
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      const state = await getBatch(ctx.deps, principal, created.batch.id);
      return reply.status(202).header('idempotent-replayed', String(created.replayed)).send(batchView(state));
    },
  );
}

function control(ctx: ApiContext, action: 'pause' | 'resume' | 'cancel' | 'approve') {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    const reason = (request.body as { reason?: unknown } | undefined)?.reason;
    const state = await controlBatch(ctx.deps, principal, (request.params as IdParamsT).id, action, typeof reason === 'string' ? reason.slice(0, 500) : undefined);
    return reply.send(batchView(state));
  };
}

function csvCell(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export async function batchRoutes(app: FastifyInstance, ctx: ApiContext, options: BatchRouteOptions): Promise<void> {
  await app.register(async (scope) => intakeRoutes(scope, ctx, options));
  const read = { tags: ['batches'], security: [{ bearer: [] }] };

  app.get('/v1/batches', { schema: { ...read, summary: 'Batches, newest first', querystring: PageQuery } }, async (request) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    const query = request.query as PageQueryT;
    const page = await listBatches(ctx.deps, principal, { limit: parseLimit(query.limit), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) });
    return { data: page.data.map(batchSummaryView), next_cursor: page.nextCursor };
  });

  app.get('/v1/batches/:id', { schema: { ...read, summary: 'A batch with its counters, rate now and ETA', params: IdParams } }, async (request) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    return batchView(await getBatch(ctx.deps, principal, (request.params as IdParamsT).id));
  });

  // The body is optional ({"reason": "…"} at most), so it is read by hand rather than by a schema.
  const controlSchema = { ...read, params: IdParams };
  app.post('/v1/batches/:id/pause', { schema: { ...controlSchema, summary: 'Pause: nothing more is handed to a transport (within a second)' } }, control(ctx, 'pause'));
  app.post('/v1/batches/:id/resume', { schema: { ...controlSchema, summary: 'Resume a paused batch' } }, control(ctx, 'resume'));
  app.post('/v1/batches/:id/cancel', { schema: { ...controlSchema, summary: 'Cancel every message not yet handed to a transport' } }, control(ctx, 'cancel'));
  app.post('/v1/batches/:id/approve', { schema: { ...controlSchema, summary: 'Approve a batch awaiting approval after its canary' } }, control(ctx, 'approve'));

  app.put(
    '/v1/batches/:id/template',
    {
      schema: {
        ...read,
        summary: 'While paused: point the batch at another template version (or inline sources); recipients not yet sent get it',
        params: IdParams,
        body: Type.Object(
          {
            template_id: Type.Optional(Type.String({ maxLength: 200 })),
            template_version: Type.Optional(Type.Integer({ minimum: 1 })),
            subject: Type.Optional(Type.String({ maxLength: 998 })),
            html: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
            text: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      return batchView(await changeBatchTemplate(ctx.deps, principal, (request.params as IdParamsT).id, request.body as TemplateChange));
    },
  );

  app.get('/v1/batches/:id/rejections', { schema: { ...read, summary: 'Rows refused at acceptance, with the reason', params: IdParams, querystring: PageQuery } }, async (request) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    const query = request.query as PageQueryT;
    const page = await listRejections(ctx.deps, principal, (request.params as IdParamsT).id, { limit: parseLimit(query.limit), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) });
    return { data: page.data.map(rejectionView), next_cursor: page.nextCursor };
  });

  app.get(
    '/v1/batches/:id/recipients',
    { schema: { ...read, summary: 'The batch’s messages in submission order', params: IdParams, querystring: Type.Object({ status: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }) } },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const query = request.query as { status?: string; cursor?: string; limit?: string };
      const page = await listRecipients(ctx.deps, principal, (request.params as IdParamsT).id, {
        limit: parseLimit(query.limit),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { data: page.data.map((m) => messageView(m)), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/batches/:id/export',
    { schema: { ...read, summary: 'Every recipient with its final state (CSV or NDJSON), streamed', params: IdParams, querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')])) }) } },
    async (request, reply) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const id = (request.params as IdParamsT).id;
      const format = (request.query as { format?: 'csv' | 'ndjson' }).format ?? 'csv';
      const rows = exportBatch(ctx.deps, principal, id);
      // Read the first row before answering, so an unknown batch is a 404, not a broken stream.
      const first = await rows.next();
      const columns = ['email', 'status', 'reason', 'smtp_reply', 'attempts', 'message_id', 'accepted_at', 'updated_at'] as const;
      async function* lines(): AsyncGenerator<string> {
        if (format === 'csv') yield `${columns.join(',')}\r\n`;
        for (let next = first; !next.done; next = await rows.next()) {
          const row = next.value;
          yield format === 'csv' ? `${columns.map((c) => csvCell(row[c])).join(',')}\r\n` : `${JSON.stringify(row)}\n`;
        }
      }
      const { Readable } = await import('node:stream');
      return reply
        .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('content-disposition', `attachment; filename="${id}.${format}"`)
        .send(Readable.from(lines()));
    },
  );

  app.get('/v1/batches/:id/events', { schema: { ...read, summary: 'Server-Sent Events: batch.progress (≤ 1/s while changing), state changes, batch.completed; resume with Last-Event-ID', params: IdParams } }, async (request, reply) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    await streamBatchEvents(ctx, principal, (request.params as IdParamsT).id, request, reply);
  });

  app.get('/v1/audit', { schema: { tags: ['audit'], security: [{ bearer: [] }], summary: 'Operator actions, newest first, with the key that did them', querystring: PageQuery } }, async (request) => {
    const principal = await authenticate(ctx.deps, ctx.limiter, request);
    const query = request.query as PageQueryT;
    const page = await listAudit(ctx.deps, principal, { limit: parseLimit(query.limit), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) });
    return { data: page.data.map(auditView), next_cursor: page.nextCursor };
  });
}
