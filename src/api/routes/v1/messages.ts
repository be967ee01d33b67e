/** `GET /v1/messages` (filtered, cursor-paged) and `GET /v1/messages/:id` (with its event timeline). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { getMessage, listMessages } from '../../../services/messages.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { IdParams, MessageListQuery, MessageView, parseLimit, type IdParamsT, type MessageListQueryT } from '../../schemas.js';
import { messageView } from '../../views.js';

export async function messageRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/v1/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'List messages, newest first',
        security: [{ bearer: [] }],
        querystring: MessageListQuery,
        response: {
          200: Type.Object({ data: Type.Array(MessageView), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          '4xx': Type.Ref('Error'),
        },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const { limit, ...query } = request.query as MessageListQueryT;
      const page = await listMessages(ctx.deps, principal, { ...query, limit: parseLimit(limit) });
      return { data: page.data.map((m) => messageView(m)), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'One message with its event timeline',
        security: [{ bearer: [] }],
        params: IdParams,
        response: { 200: MessageView, '4xx': Type.Ref('Error') },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const { message, events } = await getMessage(ctx.deps, principal, (request.params as IdParamsT).id);
      return messageView(message, events);
    },
  );
}
