/**
 * `/v1/events`: the workspace's event log, oldest first after a cursor, filtered by type; and
 * `/v1/events/stream`, the same log live over SSE (events-stream.ts). Scope `read`. Holds no
 * rules of its own: each handler calls one service and shapes its answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { listEvents } from '../../../services/events.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { eventLogView } from '../../views.js';
import { EventListQuery, EventLogView, EventStreamQuery, type EventListQueryT, type EventStreamQueryT } from '../../schemas.js';
import { streamEvents } from './events-stream.js';

const TAGS = ['events'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };

export async function eventRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/v1/events',
    {
      schema: {
        tags: TAGS,
        summary: 'The event log, oldest first after a cursor; filter by type (message.*, batch.completed, …)',
        security: SECURITY,
        querystring: EventListQuery,
        response: {
          200: Type.Object({
            data: Type.Array(EventLogView),
            next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as after= to continue (also to poll for new events)' }),
            has_more: Type.Boolean({ description: 'Whether more events were already there beyond this page' }),
          }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const query = request.query as EventListQueryT;
      const page = await listEvents(ctx.deps, await authenticate(ctx.deps, ctx.limiter, request), {
        ...(query.type !== undefined ? { type: query.type } : {}),
        ...(query.after !== undefined ? { after: query.after } : {}),
        ...(query.limit !== undefined ? { limit: Math.min(1000, Math.max(1, Number(query.limit))) } : {}),
      });
      return { data: page.data.map(eventLogView), next_cursor: page.nextCursor, has_more: page.hasMore };
    },
  );

  app.get(
    '/v1/events/stream',
    {
      schema: {
        tags: TAGS,
        summary: 'The event log live (Server-Sent Events); resume with Last-Event-ID',
        description: 'Each event is sent with `id:` (its sequence number), `event:` (its type) and `data:` (a LogEvent as JSON).',
        security: SECURITY,
        querystring: EventStreamQuery,
        response: { 200: Type.String({ description: 'text/event-stream' }), ...ERRORS },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      await streamEvents(ctx, principal, request.query as EventStreamQueryT, request, reply);
    },
  );
}
