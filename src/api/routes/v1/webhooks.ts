/**
 * `/v1/webhooks`: endpoints that receive the workspace's events, signed per Standard Webhooks.
 * The secret is in the answers to create and rotate-secret only. Holds no rules of its own: each
 * handler calls one service and shapes its answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { listWebhookDeliveries, replayWebhook } from '../../../services/webhook-deliveries.js';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listWebhooks,
  rotateWebhookSecret,
  updateWebhook,
  type WebhookInput,
  type WebhookWithSecret,
} from '../../../services/webhooks.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { IdParams, PageQuery, parseLimit, type IdParamsT, type PageQueryT } from '../../schemas.js';
import {
  DeliveryListQuery,
  DeliveryView,
  ReplayBody,
  ReplayView,
  WebhookBody,
  WebhookPatchBody,
  WebhookView,
  WebhookWithSecretView,
  deliveryView,
  webhookView,
  type DeliveryListQueryT,
  type ReplayBodyT,
  type WebhookBodyT,
  type WebhookPatchBodyT,
} from '../../webhook-schemas.js';

const TAGS = ['webhooks'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };
const NextCursor = Type.Union([Type.String(), Type.Null()]);

function toInput(body: WebhookPatchBodyT): Partial<WebhookInput> {
  const input: Partial<WebhookInput> = {};
  if (body.url !== undefined) input.url = body.url;
  if (body.events !== undefined) input.events = body.events;
  if (body.enabled !== undefined) input.enabled = body.enabled;
  if (body.description !== undefined) input.description = body.description;
  if (body.batch !== undefined) input.batch = { maxEvents: body.batch.max_events, maxLatencyMs: body.batch.max_latency_ms };
  return input;
}

function withSecret({ webhook, secret }: WebhookWithSecret) {
  return { ...webhookView(webhook), secret };
}

export async function webhookRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const principalOf = (request: Parameters<typeof authenticate>[2]) => authenticate(ctx.deps, ctx.limiter, request);
  const idOf = (request: { params: unknown }) => (request.params as IdParamsT).id;

  app.post(
    '/v1/webhooks',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an endpoint; the answer holds its signing secret, shown only this once',
        security: SECURITY,
        body: WebhookBody,
        response: { 201: WebhookWithSecretView, ...ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body as WebhookBodyT;
      const created = await createWebhook(ctx.deps, await principalOf(request), { ...toInput(body), url: body.url, events: body.events });
      return reply.status(201).send(withSecret(created));
    },
  );

  app.get(
    '/v1/webhooks',
    {
      schema: {
        tags: TAGS,
        summary: 'List endpoints, newest first',
        security: SECURITY,
        querystring: PageQuery,
        response: { 200: Type.Object({ data: Type.Array(WebhookView), next_cursor: NextCursor }), ...ERRORS },
      },
    },
    async (request) => {
      const query = request.query as PageQueryT;
      const page = { limit: parseLimit(query.limit), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) };
      const result = await listWebhooks(ctx.deps, await principalOf(request), page);
      return { data: result.data.map(webhookView), next_cursor: result.nextCursor };
    },
  );

  app.get(
    '/v1/webhooks/:id',
    { schema: { tags: TAGS, summary: 'An endpoint (without its secret)', security: SECURITY, params: IdParams, response: { 200: WebhookView, ...ERRORS } } },
    async (request) => webhookView(await getWebhook(ctx.deps, await principalOf(request), idOf(request))),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change an endpoint: url, events, enabled, description, batch',
        security: SECURITY,
        params: IdParams,
        body: WebhookPatchBody,
        response: { 200: WebhookView, ...ERRORS },
      },
    },
    async (request) => {
      const changes = toInput(request.body as WebhookPatchBodyT);
      return webhookView(await updateWebhook(ctx.deps, await principalOf(request), idOf(request), changes));
    },
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an endpoint and its delivery log',
        security: SECURITY,
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...ERRORS },
      },
    },
    async (request, reply) => {
      await deleteWebhook(ctx.deps, await principalOf(request), idOf(request));
      return reply.status(204).send();
    },
  );

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      schema: {
        tags: TAGS,
        summary: 'Make a new secret; the old one keeps signing for {"grace_seconds": N} (0 to 604800, default 86400)',
        security: SECURITY,
        params: IdParams,
        response: { 200: WebhookWithSecretView, ...ERRORS },
      },
    },
    async (request) => {
      // The body is optional ({"grace_seconds": N} at most), so it is read by hand rather than by a schema.
      const grace = (request.body as { grace_seconds?: unknown } | undefined)?.grace_seconds;
      return withSecret(await rotateWebhookSecret(ctx.deps, await principalOf(request), idOf(request), grace));
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      schema: {
        tags: TAGS,
        summary: "An endpoint's deliveries, newest first, with their latest attempt",
        security: SECURITY,
        params: IdParams,
        querystring: DeliveryListQuery,
        response: { 200: Type.Object({ data: Type.Array(DeliveryView), next_cursor: NextCursor }), ...ERRORS },
      },
    },
    async (request) => {
      const query = request.query as DeliveryListQueryT;
      const result = await listWebhookDeliveries(ctx.deps, await principalOf(request), idOf(request), {
        limit: parseLimit(query.limit),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { data: result.data.map(deliveryView), next_cursor: result.nextCursor };
    },
  );

  app.post(
    '/v1/webhooks/:id/replay',
    {
      schema: {
        tags: TAGS,
        summary: 'Send the matching events created in [from, to) again, as new deliveries (at most 100,000 events)',
        security: SECURITY,
        params: IdParams,
        body: ReplayBody,
        response: { 202: ReplayView, ...ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body as ReplayBodyT;
      const result = await replayWebhook(ctx.deps, await principalOf(request), idOf(request), { from: body.from, to: body.to });
      return reply.status(202).send(result);
    },
  );
}
