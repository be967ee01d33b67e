/**
 * Which message a piece of feedback is about. Reports arrive from strangers (anyone can mail the
 * bounce domain) and from providers (posted with a workspace's key), so attribution decides what
 * a report may touch:
 *
 * - A **VERP token** (the bounce address a DSN came to, or the return path an ARF report quotes)
 *   is signed: it names one message of one workspace, and the report applies to that message's
 *   recipient even when the report names another address (a forwarded mailbox bounced).
 * - A **Message-ID** of Herald's form (`<msg_…@host>`) is not signed: it is taken only when the
 *   report names no recipient or names the message's own recipient, so a made-up report can at
 *   most affect the recipient of a message whose id one has seen.
 * - **Provider posts** act for the posting key's workspace only: a message of another workspace
 *   is not found. Without a usable id (Postmark sends only its own), the workspace's newest
 *   handed-over message to the reported recipient is taken.
 *
 * Owns: those rules and the lookups they need. Must not: write anything.
 */
import { normaliseAddress } from '../core/address.js';
import type { MessageStatus } from '../core/message-state.js';
import type { Message } from '../core/types.js';
import type { FeedbackFact } from '../feedback/feedback-types.js';
import { readBounceToken } from '../tracking/verp.js';
import type { ServiceDeps } from './deps.js';

/** How a report was tied to its message (written into the event's data as `attributed_by`). */
export type Attribution = 'verp' | 'message_id' | 'recipient';

/** A fact and the message it applies to, or why it applies to none. */
export type Attributed =
  | { ok: true; fact: FeedbackFact; message: Message; by: Attribution }
  | { ok: false; fact: FeedbackFact | null; reason: string };

/** Statuses a provider lookup considers: handed over, or already bounced (so a repeat reads as a duplicate). */
const LOOKUP_STATUSES: readonly MessageStatus[] = ['sent', 'delivered', 'bounced'];

/** Herald's message id in a Message-ID header it wrote (`<msg_…@host>`), or null. */
export function heraldMessageId(header: string | null | undefined): string | null {
  return /^<(msg_[0-9a-z]{1,40})@[^<>\s]+>$/.exec(header ?? '')?.[1] ?? null;
}

/** Whether a reported address is the message's recipient (domains compared without case, as stored). */
export function sameRecipient(reported: string, message: Message): boolean {
  return normaliseAddress(reported) === normaliseAddress(message.recipient) || reported.toLowerCase() === message.recipient.toLowerCase();
}

/** The message a VERP address (`bounces+<token>@…`, any domain) names, when its token verifies. */
export function verpMessageId(key: Uint8Array, address: string): string | null {
  const match = /^bounces\+([^@]+)@[^@]+$/i.exec(address);
  return match ? readBounceToken(key, 'verp', match[1] ?? '') : null;
}

/**
 * The facts of one report that apply to `message`, named by a VERP token: those naming its
 * recipient (the first that does something, if several), else the only fact of the report.
 */
export function factsForVerpMessage(facts: FeedbackFact[], message: Message): Attributed[] {
  const matching = facts.filter((fact) => fact.recipient === null || sameRecipient(fact.recipient, message));
  if (matching.length > 0) {
    const decisive = matching.find((fact) => fact.kind !== 'bounce' || fact.action === 'failed') ?? matching[0];
    return decisive ? [{ ok: true, fact: decisive, message, by: 'verp' }] : [];
  }
  const only = facts.length === 1 ? facts[0] : undefined;
  if (only) return [{ ok: true, fact: only, message, by: 'verp' }];
  return [{ ok: false, fact: null, reason: `the report lists ${facts.length} recipients, none of them the message's` }];
}

/** A fact tied by a Herald Message-ID (any workspace), with the recipient check unsigned ids need. */
export async function byMessageIdHeader(deps: ServiceDeps, fact: FeedbackFact): Promise<Attributed> {
  const id = heraldMessageId(fact.originalMessageId);
  if (id === null) return { ok: false, fact, reason: fact.originalMessageId === null ? 'the report names no message (no Message-ID, no VERP return path)' : `Message-ID ${fact.originalMessageId.slice(0, 80)} is not one Herald wrote` };
  const message = await deps.store.findMessageById(id);
  if (message === null) return { ok: false, fact, reason: `no message ${id}` };
  if (fact.recipient !== null && !sameRecipient(fact.recipient, message)) return { ok: false, fact, reason: `the report names another recipient than message ${id}'s` };
  return { ok: true, fact, message, by: 'message_id' };
}

/** A provider's fact, looked up in the posting workspace only. */
export async function inWorkspace(deps: ServiceDeps, workspaceId: string, fact: FeedbackFact): Promise<Attributed> {
  const id = heraldMessageId(fact.originalMessageId);
  if (id !== null) {
    const message = await deps.store.getMessage(workspaceId, id);
    if (message === null) return { ok: false, fact, reason: `no message ${id} in this workspace` };
    if (fact.recipient !== null && !sameRecipient(fact.recipient, message)) return { ok: false, fact, reason: `the event names another recipient than message ${id}'s` };
    return { ok: true, fact, message, by: 'message_id' };
  }
  if (fact.recipient === null) return { ok: false, fact, reason: 'the event names neither a Herald message nor a recipient' };
  const recipient = normaliseAddress(fact.recipient);
  const header = fact.originalMessageId ?? undefined;
  const message = await deps.store.findMessageToRecipient(workspaceId, recipient, {
    ...(header !== undefined ? { messageIdHeader: header } : {}),
    statuses: LOOKUP_STATUSES,
  });
  if (message === null) {
    return { ok: false, fact, reason: header !== undefined ? `no message ${header.slice(0, 80)} to ${recipient} in this workspace` : `no message sent to ${recipient} in this workspace` };
  }
  return { ok: true, fact, message, by: header !== undefined ? 'message_id' : 'recipient' };
}
