/** The capture outbox: mail the `capture` transport kept instead of delivering (development). */
import { HeraldError } from '../core/errors.js';
import type { OutboxEntry } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';

export async function listOutbox(
  deps: ServiceDeps,
  principal: Principal,
  query: { cursor?: string; limit?: number },
): Promise<Page<OutboxEntry>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 50;
  const options: { before?: string; limit: number } = { limit: limit + 1 };
  if (query.cursor !== undefined) options.before = decodeCursor(query.cursor);
  const rows = await deps.store.listOutbox(principal.workspaceId, options);
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.messageId) : null };
}

export async function getOutboxRaw(deps: ServiceDeps, principal: Principal, messageId: string): Promise<string> {
  requireScope(principal, 'read');
  const raw = await deps.store.getOutboxRaw(principal.workspaceId, messageId);
  if (raw === null) throw new HeraldError('not_found', { resource: 'captured message', id: messageId });
  return raw;
}
