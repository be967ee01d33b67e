/** `GET /v1/shaping`: the delivering process's traffic-shaping state per destination provider. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { shapingState } from '../../../services/shaping.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';

const Limits = Type.Object({ maxConnections: Type.Integer(), messagesPerConnection: Type.Integer(), messagesPerMinute: Type.Number() });
const Row = Type.Object({
  destination: Type.String(),
  provider: Type.String(),
  limits: Limits,
  rate_per_minute: Type.Number(),
  in_flight: Type.Integer(),
  sent_last_minute: Type.Integer(),
  deferred_last_minute: Type.Integer(),
  throttled_until: Type.Union([Type.String(), Type.Null()]),
  last_throttle_at: Type.Union([Type.String(), Type.Null()]),
  last_throttle_reason: Type.Union([Type.String(), Type.Null()]),
});

export async function shapingRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/v1/shaping',
    {
      schema: {
        tags: ['operations'],
        summary: 'Traffic shaping per destination (direct-to-MX delivery)',
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ shaping: Type.Boolean(), destinations: Type.Array(Row) }), '4xx': Type.Ref('Error') },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const state = shapingState(principal, ctx.shaping);
      return {
        shaping: state.shaping,
        destinations: state.destinations.map((row) => ({
          destination: row.destination,
          provider: row.provider,
          limits: row.limits,
          rate_per_minute: row.ratePerMinute,
          in_flight: row.inFlight,
          sent_last_minute: row.sentLastMinute,
          deferred_last_minute: row.deferredLastMinute,
          throttled_until: row.throttledUntil,
          last_throttle_at: row.lastThrottleAt,
          last_throttle_reason: row.lastThrottleReason,
        })),
      };
    },
  );
}
