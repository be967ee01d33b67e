/**
 * The webhook dispatcher's queries on PostgreSQL: reading the event log for fan-out and replay,
 * moving endpoint cursors, and leasing and recording deliveries. One function per query with the
 * client passed in; the store runs the multi-statement writes in a transaction. Claims lock with
 * `FOR UPDATE SKIP LOCKED`, so any number of processes dispatch without taking the same delivery.
 */
import type pg from 'pg';
import type { MessageEvent } from '../../core/types.js';
import type { EventHead, EventHeadRange, NewEvent, NewWebhookDelivery, WebhookAttemptRecord, WebhookClaim, WebhookDelivery } from '../store.js';
import { insertEvents } from './postgres-events.js';
import { iso, toEvent, type EventRow } from './postgres-rows.js';
import { DELIVERY_COLUMNS, toDelivery, type DeliveryRow } from './postgres-webhooks.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

export async function listEventHeads(client: Queryable, workspaceId: string, range: EventHeadRange, limit: number): Promise<EventHead[]> {
  const { rows } = await (range.created === undefined
    ? client.query<{ seq: string; id: string; type: string; created_at: Date }>(
        'SELECT seq, id, type, created_at FROM events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
        [workspaceId, range.afterSeq, limit],
      )
    : client.query<{ seq: string; id: string; type: string; created_at: Date }>(
        `SELECT seq, id, type, created_at FROM events
         WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND seq > $4 ORDER BY seq LIMIT $5`,
        [workspaceId, range.created.from, range.created.to, range.afterSeq, limit],
      ));
  return rows.map((row) => ({ seq: Number(row.seq), id: row.id, type: row.type, createdAt: iso(row.created_at) }));
}

export async function getEventsByIds(client: Queryable, workspaceId: string, ids: string[]): Promise<MessageEvent[]> {
  const { rows } = await client.query<EventRow>('SELECT * FROM events WHERE id = ANY($1::text[]) AND workspace_id = $2 ORDER BY seq', [
    ids,
    workspaceId,
  ]);
  return rows.map(toEvent);
}

export async function insertWebhookDeliveries(client: Queryable, deliveries: NewWebhookDelivery[]): Promise<void> {
  if (deliveries.length === 0) return;
  // text[] columns cannot be unnested from a 2-D array, so each delivery's ids travel as a JSON array.
  await client.query(
    `INSERT INTO webhook_deliveries (id, webhook_id, workspace_id, event_ids, replay, status, attempts, next_attempt_at, created_at, updated_at)
     SELECT d.id, d.webhook_id, d.workspace_id, ARRAY(SELECT jsonb_array_elements_text(d.event_ids)), d.replay, 'pending', 0,
            d.next_attempt_at, d.created_at, d.created_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::boolean[], $6::timestamptz[], $7::timestamptz[])
       AS d(id, webhook_id, workspace_id, event_ids, replay, next_attempt_at, created_at)`,
    [
      deliveries.map((d) => d.id),
      deliveries.map((d) => d.webhookId),
      deliveries.map((d) => d.workspaceId),
      deliveries.map((d) => JSON.stringify(d.eventIds)),
      deliveries.map((d) => d.replay),
      deliveries.map((d) => d.nextAttemptAt),
      deliveries.map((d) => d.createdAt),
    ],
  );
}

export async function advanceWebhookCursor(
  client: Queryable,
  webhookId: string,
  from: number,
  to: number,
  deliveries: NewWebhookDelivery[],
): Promise<boolean> {
  const moved = await client.query('UPDATE webhooks SET cursor_seq = $1 WHERE id = $2 AND cursor_seq = $3', [to, webhookId, from]);
  if (moved.rowCount !== 1) return false;
  await insertWebhookDeliveries(client, deliveries);
  return true;
}

export async function claimWebhookDeliveries(client: Queryable, claim: WebhookClaim): Promise<WebhookDelivery[]> {
  const endpoints = claim.endpoints.filter((e) => e.limit > 0);
  if (endpoints.length === 0 || claim.limit <= 0) return [];
  // Per endpoint, its most overdue deliveries up to its limit (rows another claim holds are
  // skipped); across endpoints, the most overdue up to the overall limit. One statement, so the
  // rows locked and not chosen are free again as soon as it ends.
  const { rows } = await client.query<DeliveryRow>(
    `WITH candidates AS (
       SELECT d.id, d.next_attempt_at
       FROM unnest($1::text[], $2::int[]) AS e(webhook_id, lim)
       CROSS JOIN LATERAL (
         SELECT id, next_attempt_at FROM webhook_deliveries
         WHERE webhook_id = e.webhook_id AND status IN ('pending', 'failed') AND next_attempt_at <= $3
           AND (lease_until IS NULL OR lease_until < $3)
         ORDER BY next_attempt_at LIMIT e.lim
         FOR UPDATE SKIP LOCKED
       ) d
     ), chosen AS (
       SELECT id FROM candidates ORDER BY next_attempt_at LIMIT $4
     )
     UPDATE webhook_deliveries w SET lease_owner = $5, lease_until = $6
     FROM chosen WHERE w.id = chosen.id
     RETURNING ${DELIVERY_COLUMNS.split(',').map((c) => `w.${c.trim()}`).join(', ')}`,
    [endpoints.map((e) => e.webhookId), endpoints.map((e) => e.limit), claim.now, claim.limit, claim.owner, claim.leaseUntil],
  );
  return rows.map(toDelivery);
}

export async function recordWebhookAttempt(client: Queryable, r: WebhookAttemptRecord): Promise<{ failingSince: string | null } | null> {
  const held = await client.query(
    `UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_attempt_at = $4, http_status = $5,
       latency_ms = $6, response_snippet = $7, error = $8, lease_owner = NULL, lease_until = NULL, updated_at = $4
     WHERE id = $9 AND lease_owner = $10`,
    [r.status, r.attempts, r.nextAttemptAt, r.now, r.httpStatus, r.latencyMs, r.responseSnippet, r.error, r.deliveryId, r.owner],
  );
  if (held.rowCount !== 1) return null;
  // Written only when the failure run starts or ends, so a healthy endpoint's row is not rewritten per delivery.
  if (r.endpoint === 'succeeded') {
    await client.query('UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [r.webhookId]);
    return { failingSince: null };
  }
  if (r.endpoint === 'failed') {
    await client.query('UPDATE webhooks SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL', [r.webhookId, r.now]);
  }
  const { rows } = await client.query<{ failing_since: Date | null }>('SELECT failing_since FROM webhooks WHERE id = $1', [r.webhookId]);
  const since = rows[0]?.failing_since ?? null;
  return { failingSince: since === null ? null : iso(since) };
}

export async function disableWebhook(client: Queryable, webhookId: string, reason: string, event: NewEvent, now: string): Promise<boolean> {
  const changed = await client.query(
    'UPDATE webhooks SET enabled = false, disabled_reason = $1, updated_at = $2 WHERE id = $3 AND enabled',
    [reason, now, webhookId],
  );
  if (changed.rowCount !== 1) return false;
  await insertEvents(client, [event]);
  return true;
}

export async function releaseWebhookLeases(client: Queryable, owner: string, deliveryIds: string[]): Promise<number> {
  const result = await client.query(
    'UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE id = ANY($1::text[]) AND lease_owner = $2',
    [deliveryIds, owner],
  );
  return result.rowCount ?? 0;
}

export async function countWebhookBacklog(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ count: string }>("SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'failed')");
  return Number(rows[0]?.count ?? 0);
}
