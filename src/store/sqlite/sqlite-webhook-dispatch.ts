/**
 * The webhook dispatcher's queries on SQLite: reading the event log for fan-out and replay, moving
 * endpoint cursors, and leasing and recording deliveries. One function per query with the database
 * passed in; the store runs the writes in IMMEDIATE transactions.
 */
import type { Database } from 'better-sqlite3';
import type { MessageEvent } from '../../core/types.js';
import type { EventHead, EventHeadRange, NewEvent, NewWebhookDelivery, WebhookAttemptRecord, WebhookClaim, WebhookDelivery } from '../store.js';
import { insertEvent } from './sqlite-events.js';
import { toEvent, type EventRow } from './sqlite-rows.js';
import { prepared } from './sqlite-statements.js';
import { DELIVERY_COLUMNS, toDelivery, type DeliveryRow } from './sqlite-webhooks.js';

export function listEventHeads(db: Database, workspaceId: string, range: EventHeadRange, limit: number): EventHead[] {
  const rows = (
    range.created === undefined
      ? prepared(db, 'SELECT seq, id, type, created_at FROM events WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(
          workspaceId,
          range.afterSeq,
          limit,
        )
      : prepared(
          db,
          `SELECT seq, id, type, created_at FROM events
           WHERE workspace_id = ? AND created_at >= ? AND created_at < ? AND seq > ? ORDER BY seq LIMIT ?`,
        ).all(workspaceId, range.created.from, range.created.to, range.afterSeq, limit)
  ) as { seq: number; id: string; type: string; created_at: string }[];
  return rows.map((row) => ({ seq: row.seq, id: row.id, type: row.type, createdAt: row.created_at }));
}

export function getEventsByIds(db: Database, workspaceId: string, ids: string[]): MessageEvent[] {
  const rows = prepared(
    db,
    'SELECT * FROM events WHERE id IN (SELECT value FROM json_each(?)) AND workspace_id = ? ORDER BY seq',
  ).all(JSON.stringify(ids), workspaceId) as EventRow[];
  return rows.map(toEvent);
}

export function insertWebhookDeliveries(db: Database, deliveries: NewWebhookDelivery[]): void {
  const insert = prepared(
    db,
    `INSERT INTO webhook_deliveries (id, webhook_id, workspace_id, event_ids, replay, status, attempts, next_attempt_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
  );
  for (const d of deliveries) {
    insert.run(d.id, d.webhookId, d.workspaceId, JSON.stringify(d.eventIds), d.replay ? 1 : 0, d.nextAttemptAt, d.createdAt, d.createdAt);
  }
}

export function advanceWebhookCursor(db: Database, webhookId: string, from: number, to: number, deliveries: NewWebhookDelivery[]): boolean {
  const moved = prepared(db, 'UPDATE webhooks SET cursor_seq = ? WHERE id = ? AND cursor_seq = ?').run(to, webhookId, from).changes === 1;
  if (moved) insertWebhookDeliveries(db, deliveries);
  return moved;
}

export function claimWebhookDeliveries(db: Database, claim: WebhookClaim): WebhookDelivery[] {
  const due = prepared(
    db,
    `SELECT id, next_attempt_at FROM webhook_deliveries
     WHERE webhook_id = ? AND status IN ('pending', 'failed') AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
     ORDER BY next_attempt_at LIMIT ?`,
  );
  const candidates: { id: string; next_attempt_at: string }[] = [];
  for (const endpoint of claim.endpoints) {
    if (endpoint.limit <= 0) continue;
    candidates.push(...(due.all(endpoint.webhookId, claim.now, claim.now, endpoint.limit) as { id: string; next_attempt_at: string }[]));
  }
  // The most overdue first across endpoints, so no endpoint's backlog starves another's.
  candidates.sort((a, b) => (a.next_attempt_at < b.next_attempt_at ? -1 : a.next_attempt_at > b.next_attempt_at ? 1 : 0));
  const ids = candidates.slice(0, claim.limit).map((c) => c.id);
  if (ids.length === 0) return [];
  const rows = prepared(
    db,
    `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
     WHERE id IN (SELECT value FROM json_each(?)) RETURNING ${DELIVERY_COLUMNS}`,
  ).all(claim.owner, claim.leaseUntil, JSON.stringify(ids)) as DeliveryRow[];
  return rows.map(toDelivery);
}

export function recordWebhookAttempt(db: Database, r: WebhookAttemptRecord): { failingSince: string | null } | null {
  const held = prepared(
    db,
    `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?, http_status = ?, latency_ms = ?,
       response_snippet = ?, error = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
     WHERE id = ? AND lease_owner = ?`,
  ).run(r.status, r.attempts, r.nextAttemptAt, r.now, r.httpStatus, r.latencyMs, r.responseSnippet, r.error, r.now, r.deliveryId, r.owner);
  if (held.changes !== 1) return null;
  // Written only when the failure run starts or ends, so a healthy endpoint's row is not rewritten per delivery.
  if (r.endpoint === 'succeeded') {
    prepared(db, 'UPDATE webhooks SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL').run(r.webhookId);
    return { failingSince: null };
  }
  if (r.endpoint === 'failed') {
    prepared(db, 'UPDATE webhooks SET failing_since = ? WHERE id = ? AND failing_since IS NULL').run(r.now, r.webhookId);
  }
  const failingSince = prepared(db, 'SELECT failing_since FROM webhooks WHERE id = ?').pluck().get(r.webhookId) as string | null | undefined;
  return { failingSince: failingSince ?? null };
}

export function disableWebhook(db: Database, webhookId: string, reason: string, event: NewEvent, now: string): boolean {
  const changed = prepared(db, 'UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1').run(
    reason,
    now,
    webhookId,
  ).changes;
  if (changed !== 1) return false;
  insertEvent(db, event);
  return true;
}

export function releaseWebhookLeases(db: Database, owner: string, deliveryIds: string[]): number {
  return prepared(
    db,
    'UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ?',
  ).run(JSON.stringify(deliveryIds), owner).changes;
}

export function countWebhookBacklog(db: Database): number {
  return prepared(db, "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'failed')").pluck().get() as number;
}
