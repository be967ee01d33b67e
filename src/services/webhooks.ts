/**
 * Webhook endpoints: create, read, list, change, delete and rotate the secret, always within the
 * caller's workspace. Reading needs scope `read`; everything that changes an endpoint (and shows a
 * secret) needs `full`.
 *
 * An endpoint is checked when saved: an http(s) URL without credentials whose host does not
 * resolve to an internal address (loopback, private, link-local, …) unless `--webhook-allowlist`
 * allows it, and a filter of known event types. The dispatcher checks the address again on every
 * attempt, because DNS answers change. The secret is returned by `createWebhook` and
 * `rotateWebhookSecret` only; reads never show it.
 */
import { randomBytes } from 'node:crypto';
import { EVENT_TYPES } from '../core/event-types.js';
import { HeraldError, invalid } from '../core/errors.js';
import { checkUrl, resolveAllowed } from '../events/webhooks/endpoint-guard.js';
import { checkEventFilter } from '../events/webhooks/event-filter.js';
import { generateSecret } from '../events/webhooks/signature.js';
import type { Webhook, WebhookPatch } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';

export interface WebhookInput {
  url: string;
  /** Event types and wildcards; validated against core/event-types.ts. */
  events: unknown;
  enabled?: boolean | undefined;
  description?: string | null | undefined;
  batch?: { maxEvents?: number | undefined; maxLatencyMs?: number | undefined } | undefined;
}

export type WebhookChanges = Partial<WebhookInput>;

/** An endpoint with its secret: what creation and rotation answer, once. */
export interface WebhookWithSecret {
  webhook: Webhook;
  secret: string;
}

export const WEBHOOK_LIMITS = Object.freeze({
  descriptionLength: 1000,
  maxEvents: 1000,
  maxLatencyMs: 5 * 60 * 1000,
  /** How long the replaced secret signs too after a rotation, by default and at most. */
  defaultGraceSeconds: 24 * 3600,
  maxGraceSeconds: 7 * 24 * 3600,
});

/** How long the first event of a batch waits for company when the endpoint batches and says nothing. */
const DEFAULT_BATCH_LATENCY_MS = 1000;

function notFound(id: string): HeraldError {
  return new HeraldError('not_found', { resource: 'webhook', id });
}

/** Refuses URLs that are malformed or whose host resolves to an address the allowlist does not allow. */
async function checkEndpointUrl(deps: ServiceDeps, input: string): Promise<string> {
  const checked = checkUrl(input);
  if (!checked.ok) throw invalid('url', checked.reason);
  const guard = deps.webhooks ?? { allowlist: [] };
  const target = await resolveAllowed(checked.url.hostname, guard);
  // A host that does not resolve yet is accepted (each attempt checks again); an internal one is not.
  if (!target.ok && target.address !== undefined) throw invalid('url', `${target.reason}; not allowed for webhooks`);
  return checked.url.href;
}

function checkEvents(input: unknown): string[] {
  const checked = checkEventFilter(input, EVENT_TYPES);
  if (!checked.ok) throw invalid(checked.field, checked.reason);
  return checked.events;
}

function checkDescription(input: string | null | undefined): string | null {
  const description = input?.trim() || null;
  if (description !== null && description.length > WEBHOOK_LIMITS.descriptionLength) {
    throw invalid('description', `must be at most ${WEBHOOK_LIMITS.descriptionLength} characters`);
  }
  return description;
}

function checkBatch(input: WebhookInput['batch'], current?: Webhook['batch']): Webhook['batch'] {
  const maxEvents = input?.maxEvents ?? current?.maxEvents ?? 1;
  if (!Number.isInteger(maxEvents) || maxEvents < 1 || maxEvents > WEBHOOK_LIMITS.maxEvents) {
    throw invalid('batch.max_events', `must be a whole number from 1 to ${WEBHOOK_LIMITS.maxEvents}`);
  }
  const fallback = maxEvents > 1 ? (current?.maxLatencyMs || DEFAULT_BATCH_LATENCY_MS) : 0;
  const maxLatencyMs = input?.maxLatencyMs ?? fallback;
  if (!Number.isInteger(maxLatencyMs) || maxLatencyMs < 0 || maxLatencyMs > WEBHOOK_LIMITS.maxLatencyMs) {
    throw invalid('batch.max_latency_ms', `must be a whole number from 0 to ${WEBHOOK_LIMITS.maxLatencyMs}`);
  }
  return { maxEvents, maxLatencyMs };
}

async function existing(deps: ServiceDeps, workspaceId: string, id: string): Promise<Webhook> {
  const webhook = await deps.store.findWebhook(workspaceId, id);
  if (!webhook) throw notFound(id);
  return webhook;
}

/** Creates an endpoint that receives the workspace's events from now on; answers with its secret, once. */
export async function createWebhook(deps: ServiceDeps, principal: Principal, input: WebhookInput): Promise<WebhookWithSecret> {
  requireScope(principal, 'full'); // changing endpoints shows or replaces secrets
  const url = await checkEndpointUrl(deps, input.url);
  const events = checkEvents(input.events);
  const description = checkDescription(input.description);
  const batch = checkBatch(input.batch);
  const now = deps.clock.now().toISOString();
  const secret = generateSecret(randomBytes);
  const webhook: Webhook = {
    id: deps.ids.next('webhook'),
    workspaceId: principal.workspaceId,
    url,
    description,
    events,
    enabled: input.enabled ?? true,
    batch,
    secret,
    previousSecret: null,
    previousSecretExpiresAt: null,
    // Events from now on: the log so far is history (replay sends it on request).
    cursor: await deps.store.latestEventSeq(principal.workspaceId),
    failingSince: null,
    disabledReason: null,
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.createWebhook(webhook);
  return { webhook, secret };
}

export async function getWebhook(deps: ServiceDeps, principal: Principal, id: string): Promise<Webhook> {
  requireScope(principal, 'read');
  return existing(deps, principal.workspaceId, id);
}

export async function listWebhooks(deps: ServiceDeps, principal: Principal, query: { cursor?: string; limit?: number }): Promise<Page<Webhook>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 50;
  const rows = await deps.store.listWebhooks(principal.workspaceId, {
    limit: limit + 1,
    ...(query.cursor !== undefined ? { before: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

/**
 * Changes the fields given. Re-enabling an endpoint ends its failure run and starts it at the
 * log's present: what happened while it was disabled is sent only by a replay.
 */
export async function updateWebhook(deps: ServiceDeps, principal: Principal, id: string, changes: WebhookChanges): Promise<Webhook> {
  requireScope(principal, 'full'); // changing endpoints shows or replaces secrets
  const current = await existing(deps, principal.workspaceId, id);
  const patch: WebhookPatch = {};
  if (changes.url !== undefined) patch.url = await checkEndpointUrl(deps, changes.url);
  if (changes.events !== undefined) patch.events = checkEvents(changes.events);
  if (changes.description !== undefined) patch.description = checkDescription(changes.description);
  if (changes.batch !== undefined) patch.batch = checkBatch(changes.batch, current.batch);
  if (changes.enabled === true && !current.enabled) {
    Object.assign(patch, { enabled: true, failingSince: null, disabledReason: null });
    patch.cursor = await deps.store.latestEventSeq(principal.workspaceId);
  } else if (changes.enabled === false && current.enabled) {
    Object.assign(patch, { enabled: false, disabledReason: 'disabled through the API' });
  }
  const updated = await deps.store.updateWebhook(principal.workspaceId, id, patch, deps.clock.now().toISOString());
  if (!updated) throw notFound(id);
  return updated;
}

/** Removes the endpoint and its delivery log; deliveries not yet made are dropped. */
export async function deleteWebhook(deps: ServiceDeps, principal: Principal, id: string): Promise<void> {
  requireScope(principal, 'full'); // changing endpoints shows or replaces secrets
  if (!(await deps.store.deleteWebhook(principal.workspaceId, id))) throw notFound(id);
}

/**
 * Makes a new secret. For `graceSeconds` (default 24 h) every request is signed with both the new
 * and the old secret, so receivers can switch over without missing a request.
 */
export async function rotateWebhookSecret(
  deps: ServiceDeps,
  principal: Principal,
  id: string,
  graceSeconds: unknown = WEBHOOK_LIMITS.defaultGraceSeconds,
): Promise<WebhookWithSecret> {
  requireScope(principal, 'full'); // changing endpoints shows or replaces secrets
  if (typeof graceSeconds !== 'number' || !Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > WEBHOOK_LIMITS.maxGraceSeconds) {
    throw invalid('grace_seconds', `must be a whole number from 0 to ${WEBHOOK_LIMITS.maxGraceSeconds}`);
  }
  const now = deps.clock.now();
  const secret = generateSecret(randomBytes);
  const expires = new Date(now.getTime() + graceSeconds * 1000).toISOString();
  const webhook = await deps.store.rotateWebhookSecret(principal.workspaceId, id, secret, expires, now.toISOString());
  if (!webhook) throw notFound(id);
  return { webhook, secret };
}
