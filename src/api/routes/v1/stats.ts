/**
 * `GET /v1/stats`: delivery and engagement counts per hour or day, from the stats rollups. Scope
 * `read`. The service validates the query and fills empty buckets; this shapes the answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RollupCounts } from '../../../core/event-rollup.js';
import { getStats } from '../../../services/stats.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { StatsQuery, StatsView, type StatsQueryT } from '../../schemas.js';

function countsView(c: RollupCounts) {
  return {
    accepted: c.accepted,
    sent: c.sent,
    delivered: c.delivered,
    deferred: c.deferred,
    bounced: c.bounced_hard + c.bounced_soft,
    bounced_hard: c.bounced_hard,
    bounced_soft: c.bounced_soft,
    complained: c.complained,
    opened: c.opened,
    clicked: c.clicked,
    unsubscribed: c.unsubscribed,
  };
}

export async function statsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/v1/stats',
    {
      schema: {
        tags: ['events'],
        summary: 'Delivery and engagement counts per hour or day; filter by tag, stream, recipient domain',
        security: [{ bearer: [] }],
        querystring: StatsQuery,
        response: { 200: StatsView, '4xx': Type.Ref('Error') },
      },
    },
    async (request) => {
      const stats = await getStats(ctx.deps, await authenticate(ctx.deps, ctx.limiter, request), request.query as StatsQueryT);
      return {
        from: stats.from,
        to: stats.to,
        interval: stats.interval,
        tag: stats.tag,
        stream: stats.stream,
        domain: stats.domain,
        buckets: stats.buckets.map((bucket) => ({ start: bucket.start, ...countsView(bucket.counts) })),
        totals: countsView(stats.totals),
      };
    },
  );
}
