/**
 * The workspace suppression list: add (one address or a list), remove, list with a cursor, and
 * the check the intakes and the engine ask — which of these addresses must mail of a stream not
 * go to. CSV import and export are in `suppression-csv.ts`, over the same entry points.
 *
 * Rules (reasons, scopes, which scope blocks which stream) are core/suppression.ts. Every write
 * appends a `suppression.added` event per entry it added or changed, in the same transaction.
 * `suppressedAmong` and `suppressAddresses` act for a workspace rather than for a request's
 * principal: they are what acceptance, the engine and bounce/complaint handling call.
 */
import { isValidAddress, normaliseAddress } from '../core/address.js';
import { HeraldError, invalid } from '../core/errors.js';
import {
  isSuppressionReason,
  isSuppressionScope,
  scopeFor,
  SUPPRESSION_REASONS,
  SUPPRESSION_SCOPES,
  type SuppressionHit,
  type SuppressionReason,
  type SuppressionScope,
} from '../core/suppression.js';
import type { Stream } from '../core/types.js';
import type { NewEvent, NewSuppression, Suppression, SuppressionWrite } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';

export const SUPPRESSION_LIMITS = Object.freeze({
  /** Most addresses in one `POST /v1/suppressions`. */
  listMax: 1000,
  /** Most addresses per store call (one transaction, one lookup statement). */
  chunk: 2000,
  sourceLength: 100,
});

/** What a caller asks to add: one `email` or a list of `emails`, with one reason and scope for all. */
export interface SuppressionInput {
  email?: string | undefined;
  emails?: string[] | undefined;
  reason?: string | undefined;
  scope?: string | undefined;
}

/** One entry as a process (a bounce, a complaint, an import) asks for it. */
export interface SuppressionEntry {
  email: string;
  reason: string;
  scope?: string | undefined;
  /** Who decided; `api` when not given. */
  source?: string | undefined;
  /** Events about the same change (an unsubscribe's `message.unsubscribed`): written with the entry's own, only when it changes. */
  related?: NewEvent[] | undefined;
}

/** An entry whose fields passed the rules; the email is normalised. */
export interface CheckedEntry {
  email: string;
  reason: SuppressionReason;
  scope: SuppressionScope;
  source: string;
  related?: NewEvent[] | undefined;
}

/** Checks one entry; errors name `field` (`email`, `emails[3]`) for the address and its own name otherwise. */
export function checkEntry(entry: SuppressionEntry, field = 'email'): CheckedEntry {
  const email = entry.email.trim();
  if (!isValidAddress(email)) throw new HeraldError('invalid_address', { field, value: entry.email });
  if (!isSuppressionReason(entry.reason)) throw invalid('reason', `must be one of ${SUPPRESSION_REASONS.join(', ')}`);
  if (entry.scope !== undefined && !isSuppressionScope(entry.scope)) throw invalid('scope', `must be one of ${SUPPRESSION_SCOPES.join(', ')}`);
  const scope = scopeFor(entry.reason, entry.scope);
  if (scope === null) {
    throw invalid('scope', entry.reason === 'unsubscribe' ? 'an unsubscribe applies to broadcast mail only' : `a ${entry.reason} applies to all streams`);
  }
  const source = entry.source ?? 'api';
  if (source === '' || source.length > SUPPRESSION_LIMITS.sourceLength || /[\r\n]/.test(source)) {
    throw invalid('source', `must be 1 to ${SUPPRESSION_LIMITS.sourceLength} characters on one line`);
  }
  return { email: normaliseAddress(email), reason: entry.reason, scope, source, ...(entry.related ? { related: entry.related } : {}) };
}

/** A checked entry as the store writes it, with its `suppression.added` event (written only if the entry changes). */
export function suppressionRecord(deps: Pick<ServiceDeps, 'ids'>, workspaceId: string, entry: CheckedEntry, now: string): NewSuppression {
  return {
    ...entry,
    workspaceId,
    createdAt: now,
    event: {
      id: deps.ids.next('event'),
      workspaceId,
      type: 'suppression.added',
      messageId: null,
      batchId: null,
      recipient: entry.email,
      data: { email: entry.email, reason: entry.reason, scope: entry.scope, source: entry.source },
      createdAt: now,
    },
  };
}

/**
 * Writes checked entries of one workspace in chunks (a transaction each) with their events. A
 * later entry for the same (email, scope) replaces an earlier one, as if written one by one.
 */
export async function writeSuppressions(deps: ServiceDeps, workspaceId: string, entries: CheckedEntry[]): Promise<SuppressionWrite[]> {
  const now = deps.clock.now().toISOString();
  const writes: SuppressionWrite[] = [];
  for (let start = 0; start < entries.length; start += SUPPRESSION_LIMITS.chunk) {
    const latest = new Map<string, NewSuppression>();
    for (const entry of entries.slice(start, start + SUPPRESSION_LIMITS.chunk)) {
      const key = `${entry.email}\n${entry.scope}`;
      latest.delete(key);
      latest.set(key, suppressionRecord(deps, workspaceId, entry, now));
    }
    writes.push(...(await deps.store.addSuppressions([...latest.values()])));
  }
  return writes;
}

/**
 * Adds entries for a workspace, as a process decides them: bounce and complaint handling call
 * this with `source` naming themselves. Throws on the first entry that breaks a rule.
 *
 * @example
 * await suppressAddresses(deps, workspaceId, [{ email: 'ann@x.org', reason: 'hard_bounce', source: 'dsn' }]);
 */
export async function suppressAddresses(deps: ServiceDeps, workspaceId: string, entries: SuppressionEntry[]): Promise<SuppressionWrite[]> {
  return writeSuppressions(deps, workspaceId, entries.map((entry, i) => checkEntry(entry, `entries[${i}].email`)));
}

/** `POST /v1/suppressions`: one `email` or a list of `emails`; the reason defaults to `manual`. */
export async function addSuppressions(deps: ServiceDeps, principal: Principal, input: SuppressionInput): Promise<SuppressionWrite[]> {
  requireScope(principal, 'send');
  if ((input.email === undefined) === (input.emails === undefined)) throw invalid('email', 'give either email or emails');
  const list = input.emails ?? [input.email as string];
  if (list.length === 0 || list.length > SUPPRESSION_LIMITS.listMax) throw invalid('emails', `must hold 1 to ${SUPPRESSION_LIMITS.listMax} addresses`);
  const reason = input.reason ?? 'manual';
  const checked = list.map((email, i) =>
    checkEntry({ email, reason, scope: input.scope, source: 'api' }, input.emails === undefined ? 'email' : `emails[${i}]`),
  );
  return writeSuppressions(deps, principal.workspaceId, checked);
}

/** Removes an address's entry in `scope`, or in every scope; `not_found` when there was none. */
export async function removeSuppression(deps: ServiceDeps, principal: Principal, email: string, scope?: string): Promise<void> {
  requireScope(principal, 'send');
  if (scope !== undefined && !isSuppressionScope(scope)) throw invalid('scope', `must be one of ${SUPPRESSION_SCOPES.join(', ')}`);
  const address = normaliseAddress(email.trim());
  const removed = await deps.store.removeSuppression(principal.workspaceId, address, scope);
  if (removed === 0) throw new HeraldError('not_found', { resource: 'suppression', id: scope === undefined ? address : `${address} (${scope})` });
}

function afterCursor(cursor: string): { email: string; scope: SuppressionScope } {
  const text = decodeCursor(cursor);
  const cut = text.lastIndexOf('\n');
  const scope = text.slice(cut + 1);
  if (cut < 1 || !isSuppressionScope(scope)) throw new HeraldError('invalid_cursor');
  return { email: text.slice(0, cut), scope };
}

/** Entries by email (then scope), optionally of one reason. */
export async function listSuppressions(
  deps: ServiceDeps,
  principal: Principal,
  query: { reason?: string; cursor?: string; limit?: number },
): Promise<Page<Suppression>> {
  requireScope(principal, 'read');
  const reason = query.reason;
  if (reason !== undefined && !isSuppressionReason(reason)) throw invalid('reason', `must be one of ${SUPPRESSION_REASONS.join(', ')}`);
  const limit = query.limit ?? 50;
  const rows = await deps.store.listSuppressions(principal.workspaceId, {
    limit: limit + 1,
    ...(reason !== undefined ? { reason } : {}),
    ...(query.cursor !== undefined ? { after: afterCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(`${last.email}\n${last.scope}`) : null };
}

/**
 * Which of `emails` mail of `stream` must not be sent to, with the reason and scope: the check at
 * acceptance (call it with a whole intake chunk: one store query per 2,000 addresses). Addresses
 * are compared with the domain lower-cased; the result is keyed by the addresses as given, and
 * holds only the suppressed ones. An `unsubscribe` (broadcast scope) holds back broadcast mail
 * only; every other entry holds back both streams.
 *
 * @example
 * const held = await suppressedAmong(deps, workspaceId, 'transactional', ['ann@x.org', 'bob@y.org']);
 * held.get('ann@x.org'); // { reason: 'complaint', scope: 'all' } or undefined
 */
export async function suppressedAmong(
  deps: ServiceDeps,
  workspaceId: string,
  stream: Stream,
  emails: readonly string[],
): Promise<Map<string, SuppressionHit>> {
  const asGiven = new Map<string, string[]>();
  for (const email of emails) {
    const normal = normaliseAddress(email.trim());
    const list = asGiven.get(normal);
    if (list) list.push(email);
    else asGiven.set(normal, [email]);
  }
  const unique = [...asGiven.keys()];
  const held = new Map<string, SuppressionHit>();
  for (let start = 0; start < unique.length; start += SUPPRESSION_LIMITS.chunk) {
    const found = await deps.store.findSuppressed(workspaceId, stream, unique.slice(start, start + SUPPRESSION_LIMITS.chunk));
    for (const [normal, hit] of found) for (const email of asGiven.get(normal) ?? []) held.set(email, hit);
  }
  return held;
}
