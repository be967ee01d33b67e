/**
 * `GET /metrics`: the process's metrics in the Prometheus text format, for a scraper. Open unless
 * `--metrics-token` is set; then `Authorization: Bearer <token>` is required.
 */
import type { FastifyInstance } from 'fastify';
import { PROMETHEUS_CONTENT_TYPE } from '../../lib/metrics.js';
import { checkMetricsToken, renderMetrics } from '../../services/metrics.js';
import type { ApiContext } from '../context.js';

export async function metricsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics: queue depth, send outcomes, transport latency, engine, shaping, webhook backlog',
        description: 'Text exposition format 0.0.4. Requires `Authorization: Bearer <token>` when Herald runs with --metrics-token.',
      },
    },
    async (request, reply) => {
      checkMetricsToken(request.headers.authorization, ctx.metricsToken);
      const text = await renderMetrics(ctx.deps, ctx.metrics, ctx.shaping);
      return reply.type(PROMETHEUS_CONTENT_TYPE).send(text);
    },
  );
}
