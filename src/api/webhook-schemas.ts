/**
 * Request and response schemas of `/v1/webhooks` (TypeBox → JSON Schema), and the views that
 * turn endpoints and deliveries into the API's snake_case JSON. Ranges and event types are checked
 * by the service, which names the field; the schemas check shapes.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Webhook, WebhookDelivery } from '../store/store.js';

const Batch = Type.Object(
  {
    max_events: Type.Optional(Type.Integer({ description: 'Events per request, 1 to 1000; 1 (the default) sends one event as an object, more send an array' })),
    max_latency_ms: Type.Optional(Type.Integer({ description: 'How long the first event of a batch may wait for more, 0 to 300000; default 1000 when batching' })),
  },
  { additionalProperties: false },
);

const WebhookFields = {
  url: Type.String({ maxLength: 2048, description: 'https (or http) URL; no credentials; must not resolve to an internal address unless allowlisted' }),
  events: Type.Array(Type.String(), { description: 'Event types, family wildcards like "message.*", or "*"' }),
  enabled: Type.Optional(Type.Boolean({ description: 'Default true' })),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
  batch: Type.Optional(Batch),
};

export const WebhookBody = Type.Object(WebhookFields, { additionalProperties: false, $id: 'WebhookRequest' });
export type WebhookBodyT = Static<typeof WebhookBody>;

export const WebhookPatchBody = Type.Partial(Type.Object(WebhookFields), {
  additionalProperties: false,
  $id: 'WebhookPatchRequest',
  description: 'The fields to change; re-enabling starts at the present (replay sends what was missed)',
});
export type WebhookPatchBodyT = Static<typeof WebhookPatchBody>;

export const ReplayBody = Type.Object(
  {
    from: Type.String({ description: 'ISO 8601 date-time: events created at or after' }),
    to: Type.String({ description: 'ISO 8601 date-time: events created before' }),
  },
  { additionalProperties: false, $id: 'WebhookReplayRequest' },
);
export type ReplayBodyT = Static<typeof ReplayBody>;

const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('exhausted')]);

export const DeliveryListQuery = Type.Object(
  {
    status: Type.Optional(DeliveryStatus),
    cursor: Type.Optional(Type.String()),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 50' })),
  },
  { additionalProperties: false },
);
export type DeliveryListQueryT = Static<typeof DeliveryListQuery>;

const NullableString = Type.Union([Type.String(), Type.Null()]);
const NullableInteger = Type.Union([Type.Integer(), Type.Null()]);

export const WebhookView = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    description: NullableString,
    events: Type.Array(Type.String()),
    enabled: Type.Boolean(),
    batch: Type.Object({ max_events: Type.Integer(), max_latency_ms: Type.Integer() }),
    disabled_reason: Type.Union([Type.String(), Type.Null()], { description: 'Why Herald (or a user) disabled it' }),
    failing_since: Type.Union([Type.String(), Type.Null()], { description: 'Start of the current run of failed attempts' }),
    previous_secret_expires_at: Type.Union([Type.String(), Type.Null()], { description: 'Until when the secret before the last rotation signs too' }),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: 'Webhook' },
);

export const WebhookWithSecretView = Type.Object(
  { ...WebhookView.properties, secret: Type.String({ description: 'whsec_…: shown only in this response' }) },
  { $id: 'WebhookWithSecret' },
);

export const DeliveryView = Type.Object(
  {
    id: Type.String({ description: 'The webhook-id header of every attempt' }),
    webhook_id: Type.String(),
    status: DeliveryStatus,
    event_ids: Type.Array(Type.String()),
    replay: Type.Boolean(),
    attempts: Type.Integer(),
    next_attempt_at: NullableString,
    last_attempt_at: NullableString,
    http_status: NullableInteger,
    latency_ms: NullableInteger,
    response_snippet: NullableString,
    error: NullableString,
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: 'WebhookDelivery' },
);

export const ReplayView = Type.Object(
  { events: Type.Integer(), deliveries: Type.Integer(), from: Type.String(), to: Type.String() },
  { $id: 'WebhookReplay' },
);

export function webhookView(w: Webhook) {
  return {
    id: w.id,
    url: w.url,
    description: w.description,
    events: w.events,
    enabled: w.enabled,
    batch: { max_events: w.batch.maxEvents, max_latency_ms: w.batch.maxLatencyMs },
    disabled_reason: w.disabledReason,
    failing_since: w.failingSince,
    previous_secret_expires_at: w.previousSecretExpiresAt,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  };
}

export function deliveryView(d: WebhookDelivery) {
  return {
    id: d.id,
    webhook_id: d.webhookId,
    status: d.status,
    event_ids: d.eventIds,
    replay: d.replay,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt,
    last_attempt_at: d.lastAttemptAt,
    http_status: d.httpStatus,
    latency_ms: d.latencyMs,
    response_snippet: d.responseSnippet,
    error: d.error,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
  };
}
