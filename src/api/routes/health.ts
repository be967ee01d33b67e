/** Liveness (`/healthz`: the process answers) and readiness (`/readyz`: it can take mail now). */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';

export async function healthRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['operations'], summary: 'Readiness: 200 when the store answers, else 503' } }, async (_request, reply) => {
    const ready = await ctx.ready().catch(() => false);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
}
