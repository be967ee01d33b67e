/**
 * Webhook endpoint queries on PostgreSQL, and the delivery log's read side, one function per query
 * with the client passed in (the store delegates to these). What the dispatcher writes is in
 * postgres-webhook-dispatch.ts.
 */
import type pg from 'pg';
import type { Webhook, WebhookDelivery, WebhookDeliveryStatus, WebhookPatch } from '../store.js';
import { iso } from './postgres-rows.js';

type Queryable = Pick<pg.Pool, 'query'>;

interface WebhookRow {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  events: string[];
  enabled: boolean;
  batch_max_events: number;
  batch_max_latency_ms: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  cursor_seq: string;
  failing_since: Date | null;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  workspace_id: string;
  event_ids: string[];
  replay: boolean;
  status: string;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  http_status: number | null;
  latency_ms: number | null;
  response_snippet: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

export const DELIVERY_COLUMNS = `id, webhook_id, workspace_id, event_ids, replay, status, attempts, next_attempt_at, last_attempt_at,
  http_status, latency_ms, response_snippet, error, created_at, updated_at`;

const isoOrNull = (date: Date | null): string | null => (date === null ? null : iso(date));

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    url: row.url,
    description: row.description,
    events: row.events,
    enabled: row.enabled,
    batch: { maxEvents: row.batch_max_events, maxLatencyMs: row.batch_max_latency_ms },
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: isoOrNull(row.previous_secret_expires_at),
    cursor: Number(row.cursor_seq),
    failingSince: isoOrNull(row.failing_since),
    disabledReason: row.disabled_reason,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    workspaceId: row.workspace_id,
    eventIds: row.event_ids,
    replay: row.replay,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: isoOrNull(row.next_attempt_at),
    lastAttemptAt: isoOrNull(row.last_attempt_at),
    httpStatus: row.http_status,
    latencyMs: row.latency_ms,
    responseSnippet: row.response_snippet,
    error: row.error,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export async function createWebhook(client: Queryable, w: Webhook): Promise<void> {
  await client.query(
    `INSERT INTO webhooks (id, workspace_id, url, description, events, enabled, batch_max_events, batch_max_latency_ms, secret,
       previous_secret, previous_secret_expires_at, cursor_seq, failing_since, disabled_reason, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
    [
      w.id, w.workspaceId, w.url, w.description, JSON.stringify(w.events), w.enabled, w.batch.maxEvents, w.batch.maxLatencyMs, w.secret,
      w.previousSecret, w.previousSecretExpiresAt, w.cursor, w.failingSince, w.disabledReason, w.createdAt, w.updatedAt,
    ],
  );
}

export async function findWebhook(client: Queryable, workspaceId: string, id: string): Promise<Webhook | null> {
  const { rows } = await client.query<WebhookRow>('SELECT * FROM webhooks WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  return rows[0] ? toWebhook(rows[0]) : null;
}

export async function listWebhooks(client: Queryable, workspaceId: string, options: { before?: string; limit: number }): Promise<Webhook[]> {
  const { rows } = await client.query<WebhookRow>(
    `SELECT * FROM webhooks WHERE workspace_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
    [workspaceId, options.before ?? null, options.limit],
  );
  return rows.map(toWebhook);
}

export async function listEnabledWebhooks(client: Queryable): Promise<Webhook[]> {
  const { rows } = await client.query<WebhookRow>('SELECT * FROM webhooks WHERE enabled ORDER BY id');
  return rows.map(toWebhook);
}

/** The patch as column assignments; only the fields it holds. */
function assignments(patch: WebhookPatch): [string, unknown][] {
  const set: [string, unknown][] = [];
  if (patch.url !== undefined) set.push(['url', patch.url]);
  if (patch.description !== undefined) set.push(['description', patch.description]);
  if (patch.events !== undefined) set.push(['events', JSON.stringify(patch.events)]);
  if (patch.enabled !== undefined) set.push(['enabled', patch.enabled]);
  if (patch.batch !== undefined) set.push(['batch_max_events', patch.batch.maxEvents], ['batch_max_latency_ms', patch.batch.maxLatencyMs]);
  if (patch.cursor !== undefined) set.push(['cursor_seq', patch.cursor]);
  if (patch.failingSince !== undefined) set.push(['failing_since', patch.failingSince]);
  if (patch.disabledReason !== undefined) set.push(['disabled_reason', patch.disabledReason]);
  return set;
}

export async function updateWebhook(client: Queryable, workspaceId: string, id: string, patch: WebhookPatch, now: string): Promise<Webhook | null> {
  const set: [string, unknown][] = [...assignments(patch), ['updated_at', now]];
  // Column names come from the fixed list above, never from input.
  const { rows } = await client.query<WebhookRow>(
    `UPDATE webhooks SET ${set.map(([column], i) => `${column} = $${i + 3}`).join(', ')}
     WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    [workspaceId, id, ...set.map(([, value]) => value)],
  );
  return rows[0] ? toWebhook(rows[0]) : null;
}

export async function rotateWebhookSecret(
  client: Queryable,
  workspaceId: string,
  id: string,
  secret: string,
  previousExpiresAt: string,
  now: string,
): Promise<Webhook | null> {
  // The right-hand sides read the row as it was: the current secret becomes the previous one.
  const { rows } = await client.query<WebhookRow>(
    `UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4, updated_at = $5
     WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    [workspaceId, id, previousExpiresAt, secret, now],
  );
  return rows[0] ? toWebhook(rows[0]) : null;
}

export async function deleteWebhook(client: Queryable, workspaceId: string, id: string): Promise<boolean> {
  // Deliveries go with it (ON DELETE CASCADE).
  const result = await client.query('DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
  return result.rowCount === 1;
}

export async function listWebhookDeliveries(
  client: Queryable,
  workspaceId: string,
  webhookId: string,
  options: { status?: WebhookDeliveryStatus; before?: string; limit: number },
): Promise<WebhookDelivery[]> {
  const { rows } = await client.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
     WHERE webhook_id = $1 AND workspace_id = $2 AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR id < $4)
     ORDER BY id DESC LIMIT $5`,
    [webhookId, workspaceId, options.status ?? null, options.before ?? null, options.limit],
  );
  return rows.map(toDelivery);
}
