/**
 * Webhook endpoint queries on SQLite, and the delivery log's read side, one function per query with
 * the database passed in (the store delegates to these). What the dispatcher writes is in
 * sqlite-webhook-dispatch.ts.
 */
import type { Database } from 'better-sqlite3';
import type { Webhook, WebhookDelivery, WebhookDeliveryStatus, WebhookPatch } from '../store.js';
import { prepared } from './sqlite-statements.js';

export interface WebhookRow {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  events: string;
  enabled: number;
  batch_max_events: number;
  batch_max_latency_ms: number;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  cursor_seq: number;
  failing_since: string | null;
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  workspace_id: string;
  event_ids: string;
  replay: number;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  http_status: number | null;
  latency_ms: number | null;
  response_snippet: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

export const DELIVERY_COLUMNS = `id, webhook_id, workspace_id, event_ids, replay, status, attempts, next_attempt_at, last_attempt_at,
  http_status, latency_ms, response_snippet, error, created_at, updated_at`;

export function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as string[],
    enabled: row.enabled === 1,
    batch: { maxEvents: row.batch_max_events, maxLatencyMs: row.batch_max_latency_ms },
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    cursor: row.cursor_seq,
    failingSince: row.failing_since,
    disabledReason: row.disabled_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    workspaceId: row.workspace_id,
    eventIds: JSON.parse(row.event_ids) as string[],
    replay: row.replay === 1,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastAttemptAt: row.last_attempt_at,
    httpStatus: row.http_status,
    latencyMs: row.latency_ms,
    responseSnippet: row.response_snippet,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createWebhook(db: Database, w: Webhook): void {
  prepared(
    db,
    `INSERT INTO webhooks (id, workspace_id, url, description, events, enabled, batch_max_events, batch_max_latency_ms, secret,
       previous_secret, previous_secret_expires_at, cursor_seq, failing_since, disabled_reason, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    w.id, w.workspaceId, w.url, w.description, JSON.stringify(w.events), w.enabled ? 1 : 0, w.batch.maxEvents, w.batch.maxLatencyMs,
    w.secret, w.previousSecret, w.previousSecretExpiresAt, w.cursor, w.failingSince, w.disabledReason, w.createdAt, w.updatedAt,
  );
}

export function findWebhook(db: Database, workspaceId: string, id: string): Webhook | null {
  const row = prepared(db, 'SELECT * FROM webhooks WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as WebhookRow | undefined;
  return row ? toWebhook(row) : null;
}

export function listWebhooks(db: Database, workspaceId: string, options: { before?: string; limit: number }): Webhook[] {
  const rows = prepared(
    db,
    `SELECT * FROM webhooks WHERE workspace_id = @workspaceId AND (@before IS NULL OR id < @before)
     ORDER BY id DESC LIMIT @limit`,
  ).all({ workspaceId, before: options.before ?? null, limit: options.limit }) as WebhookRow[];
  return rows.map(toWebhook);
}

export function listEnabledWebhooks(db: Database): Webhook[] {
  return (prepared(db, 'SELECT * FROM webhooks WHERE enabled = 1 ORDER BY id').all() as WebhookRow[]).map(toWebhook);
}

/** The patch as column assignments; only the fields it holds. */
function assignments(patch: WebhookPatch): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  if (patch.url !== undefined) set.url = patch.url;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.events !== undefined) set.events = JSON.stringify(patch.events);
  if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
  if (patch.batch !== undefined) {
    set.batch_max_events = patch.batch.maxEvents;
    set.batch_max_latency_ms = patch.batch.maxLatencyMs;
  }
  if (patch.cursor !== undefined) set.cursor_seq = patch.cursor;
  if (patch.failingSince !== undefined) set.failing_since = patch.failingSince;
  if (patch.disabledReason !== undefined) set.disabled_reason = patch.disabledReason;
  return set;
}

export function updateWebhook(db: Database, workspaceId: string, id: string, patch: WebhookPatch, now: string): Webhook | null {
  const set = { ...assignments(patch), updated_at: now };
  const columns = Object.keys(set);
  // Column names come from the fixed list above, never from input; one statement per shape.
  const row = prepared(
    db,
    `UPDATE webhooks SET ${columns.map((c) => `${c} = @${c}`).join(', ')}
     WHERE workspace_id = @workspaceId AND id = @id RETURNING *`,
  ).get({ ...set, workspaceId, id }) as WebhookRow | undefined;
  return row ? toWebhook(row) : null;
}

export function rotateWebhookSecret(
  db: Database,
  workspaceId: string,
  id: string,
  secret: string,
  previousExpiresAt: string,
  now: string,
): Webhook | null {
  // The right-hand sides read the row as it was: the current secret becomes the previous one.
  const row = prepared(
    db,
    `UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ?
     WHERE workspace_id = ? AND id = ? RETURNING *`,
  ).get(previousExpiresAt, secret, now, workspaceId, id) as WebhookRow | undefined;
  return row ? toWebhook(row) : null;
}

export function deleteWebhook(db: Database, workspaceId: string, id: string): boolean {
  // Deliveries go with it (ON DELETE CASCADE).
  return prepared(db, 'DELETE FROM webhooks WHERE workspace_id = ? AND id = ?').run(workspaceId, id).changes === 1;
}

export function listWebhookDeliveries(
  db: Database,
  workspaceId: string,
  webhookId: string,
  options: { status?: WebhookDeliveryStatus; before?: string; limit: number },
): WebhookDelivery[] {
  // Two statements rather than `(@status IS NULL OR …)`, so each gets the index that fits it.
  const byStatus = options.status === undefined ? '' : 'AND status = @status';
  const rows = prepared(
    db,
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
     WHERE webhook_id = @webhookId AND workspace_id = @workspaceId ${byStatus} AND (@before IS NULL OR id < @before)
     ORDER BY id DESC LIMIT @limit`,
  ).all({
    webhookId,
    workspaceId,
    before: options.before ?? null,
    limit: options.limit,
    ...(options.status === undefined ? {} : { status: options.status }),
  }) as DeliveryRow[];
  return rows.map(toDelivery);
}
