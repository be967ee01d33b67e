/** Builds the real API over a test context, silent, for `inject()`-driven tests. */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app.js';
import { createLogger } from '../../src/lib/logger.js';
import type { TestContext } from './harness.js';

export async function buildTestApp(ctx: TestContext, options: { rateLimit?: number; bodyLimit?: number } = {}): Promise<FastifyInstance> {
  const app = await buildApp({
    deps: ctx.deps,
    logger: createLogger('silent'),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    rateLimit: options.rateLimit ?? 0,
  });
  await app.ready();
  return app;
}

export function bearer(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
}

export function basic(id: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };
}
