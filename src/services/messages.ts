/** Reading messages and their event timelines, always within the caller's workspace. */
import { HeraldError, invalid } from '../core/errors.js';
import { MESSAGE_STATUSES, type MessageStatus } from '../core/message-state.js';
import type { Message, MessageEvent } from '../core/types.js';
import type { MessageFilter } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';

export interface MessageQuery {
  status?: string;
  to?: string;
  tag?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

export interface Page<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('v1:') || text.length < 4) throw new HeraldError('invalid_cursor');
  return text.slice(3);
}

function isoField(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw invalid(field, `"${value}" is not an ISO 8601 date-time`);
  return at.toISOString();
}

export async function getMessage(
  deps: ServiceDeps,
  principal: Principal,
  id: string,
): Promise<{ message: Message; events: MessageEvent[] }> {
  requireScope(principal, 'read');
  const message = await deps.store.getMessage(principal.workspaceId, id);
  if (!message) throw new HeraldError('not_found', { resource: 'message', id });
  const events = await deps.store.listMessageEvents(principal.workspaceId, id);
  return { message, events };
}

export async function listMessages(deps: ServiceDeps, principal: Principal, query: MessageQuery): Promise<Page<Message>> {
  requireScope(principal, 'read');
  if (query.status !== undefined && !MESSAGE_STATUSES.includes(query.status as MessageStatus)) {
    throw invalid('status', `must be one of ${MESSAGE_STATUSES.join(', ')}`);
  }
  const limit = query.limit ?? 50;
  const filter: MessageFilter = { limit: limit + 1 };
  if (query.status !== undefined) filter.status = query.status as MessageStatus;
  if (query.to !== undefined) filter.recipient = query.to.replace(/@([^@]*)$/, (_m, domain: string) => `@${domain.toLowerCase()}`);
  if (query.tag !== undefined) filter.tag = query.tag;
  const since = isoField('since', query.since);
  const until = isoField('until', query.until);
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  if (query.cursor !== undefined) filter.before = decodeCursor(query.cursor);
  const rows = await deps.store.listMessages(principal.workspaceId, filter);
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}
