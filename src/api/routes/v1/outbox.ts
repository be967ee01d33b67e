/** The capture outbox: what the `capture` transport kept instead of delivering. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { getOutboxRaw, listOutbox } from '../../../services/outbox.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { IdParams, OutboxEntryView, PageQuery, parseLimit, type IdParamsT, type PageQueryT } from '../../schemas.js';
import { outboxView } from '../../views.js';

export async function outboxRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/v1/outbox',
    {
      schema: {
        tags: ['outbox'],
        summary: 'Captured messages, newest first',
        security: [{ bearer: [] }],
        querystring: PageQuery,
        response: {
          200: Type.Object({ data: Type.Array(OutboxEntryView), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          '4xx': Type.Ref('Error'),
        },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const query = request.query as PageQueryT;
      const page = await listOutbox(ctx.deps, principal, {
        limit: parseLimit(query.limit),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { data: page.data.map(outboxView), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/outbox/:id/raw',
    {
      schema: {
        tags: ['outbox'],
        summary: 'The raw MIME of a captured message (message/rfc822)',
        security: [{ bearer: [] }],
        params: IdParams,
        response: { 200: Type.String({ description: 'RFC 5322 message' }), '4xx': Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const raw = await getOutboxRaw(ctx.deps, principal, (request.params as IdParamsT).id);
      return reply.type('message/rfc822').send(raw);
    },
  );
}
