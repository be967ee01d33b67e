/**
 * Builds the Fastify application: the error contract, authentication, the v1 routes, the uSpeedo
 * compat routes, health checks and the OpenAPI document with its reader at `/docs`. Owns no
 * business rules: every route calls a service.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { HeraldError } from '../core/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ApiContext } from './context.js';
import { sendError } from './errors.js';
import { createRateLimiter } from './rate-limit.js';
import { healthRoutes } from './routes/health.js';
import { uspeedoRoutes } from './routes/compat/uspeedo.js';
import { emailRoutes } from './routes/v1/emails.js';
import { messageRoutes } from './routes/v1/messages.js';
import { outboxRoutes } from './routes/v1/outbox.js';
import { templateRoutes } from './routes/v1/templates.js';
import { batchRoutes } from './routes/v1/batches.js';
import { shapingRoutes } from './routes/v1/shaping.js';
import { eventRoutes } from './routes/v1/events.js';
import { statsRoutes } from './routes/v1/stats.js';
import { metricsRoutes } from './routes/metrics.js';
import { MetricsRegistry } from '../lib/metrics.js';
import { suppressionRoutes } from './routes/v1/suppressions.js';
import { webhookRoutes } from './routes/v1/webhooks.js';
import { domainRoutes } from './routes/v1/domains.js';
import { workspaceRoutes } from './routes/v1/workspace.js';
import { unsubscribeRoutes } from './routes/unsubscribe.js';
import type { UnsubscribeSettings } from '../services/unsubscribe.js';
import { feedbackRoutes } from './routes/v1/feedback.js';
import type { FeedbackSettings } from '../services/feedback.js';
import { trackingRoutes } from './routes/tracking.js';
import type { TrackingSettings } from '../services/tracking.js';
import { ErrorResponse } from './schemas.js';
import type { ServiceDeps } from '../services/deps.js';
import { API_VERSION } from '../version.js';
import type { ShapingSource } from '../services/shaping.js';

export interface AppOptions {
  deps: ServiceDeps;
  logger: Logger;
  /** Largest request body, bytes. */
  bodyLimit: number;
  /** Requests per second per key; 0 for no limit. */
  rateLimit: number;
  publicUrl?: string | undefined;
  ready?: () => Promise<boolean>;
  /** Largest batch submission, bytes (default 2 GiB). */
  batchMaxBytes?: number;
  /** The delivering process's traffic shaper (`--deliver mx`), shown at GET /v1/shaping. */
  shaping?: ShapingSource | null;
  /** The process's metrics registry (shared with the engine); default: a new one for this app. */
  metrics?: MetricsRegistry;
  /** Require `Authorization: Bearer <token>` at GET /metrics (`--metrics-token`). */
  metricsToken?: string | undefined;
  /** Serve the public unsubscribe endpoints (`/u/:token`) for tokens signed with this key. */
  unsubscribe?: UnsubscribeSettings;
  /** Serve `POST /v1/feedback/{provider}` (provider bounce and complaint webhooks) with these settings. */
  feedback?: FeedbackSettings;
  /** Serve the public open pixel and click redirects (`/t/o/:token`, `/t/c/:token`) for tokens signed with this key. */
  tracking?: TrackingSettings;
}

export { API_VERSION } from '../version.js';

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    return503OnClosing: true,
    // Signed link tokens (`/u/:token`) run to a few hundred characters; the default cuts at 100.
    routerOptions: { maxParamLength: 2048 },
  });
  const ctx: ApiContext = {
    deps: options.deps,
    limiter: createRateLimiter(options.rateLimit),
    ready: options.ready ?? (async () => options.deps.store.ping().then(() => true)),
    shaping: options.shaping ?? null,
    streams: new Set(),
    metrics: options.metrics ?? new MetricsRegistry(),
    metricsToken: options.metricsToken ?? null,
  };
  // Live streams (SSE) are hijacked responses that app.close() does not end: end them, so a
  // graceful shutdown does not wait for every follower to leave. Clients resume with Last-Event-ID.
  app.addHook('preClose', async () => {
    for (const stream of ctx.streams) stream.end();
  });

  app.addSchema(ErrorResponse);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald API',
        version: API_VERSION,
        description: 'Self-hosted email delivery. Authenticate with `Authorization: Bearer <key secret>`.',
      },
      ...(options.publicUrl ? { servers: [{ url: options.publicUrl }] } : {}),
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'The API key secret' },
          basic: { type: 'http', scheme: 'basic', description: 'Key id as user, key secret as password (uSpeedo style)' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new HeraldError('route_not_found', { method: request.method, url: request.url.split('?')[0] ?? '' })),
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => healthRoutes(scope, ctx));
  await app.register(async (scope) => emailRoutes(scope, ctx));
  await app.register(async (scope) => messageRoutes(scope, ctx));
  await app.register(async (scope) => outboxRoutes(scope, ctx));
  await app.register(async (scope) => templateRoutes(scope, ctx));
  await app.register(async (scope) => batchRoutes(scope, ctx, { maxBytes: options.batchMaxBytes ?? 2 * 1024 * 1024 * 1024 }));
  await app.register(async (scope) => shapingRoutes(scope, ctx));
  await app.register(async (scope) => eventRoutes(scope, ctx));
  await app.register(async (scope) => statsRoutes(scope, ctx));
  await app.register(async (scope) => metricsRoutes(scope, ctx));
  await app.register(async (scope) => suppressionRoutes(scope, ctx));
  await app.register(async (scope) => webhookRoutes(scope, ctx));
  await app.register(async (scope) => domainRoutes(scope, ctx));
  await app.register(async (scope) => workspaceRoutes(scope, ctx));
  const unsubscribe = options.unsubscribe;
  if (unsubscribe) await app.register(async (scope) => unsubscribeRoutes(scope, ctx, unsubscribe));
  const feedback = options.feedback;
  if (feedback) await app.register(async (scope) => feedbackRoutes(scope, ctx, feedback));
  const tracking = options.tracking;
  if (tracking) await app.register(async (scope) => trackingRoutes(scope, ctx, tracking));
  await app.register(async (scope) => uspeedoRoutes(scope, ctx), { prefix: '/api/v1/email' });
  return app;
}
