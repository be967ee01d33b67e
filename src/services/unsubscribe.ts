/**
 * Unsubscribing through the links in broadcast mail: the RFC 8058 one-click POST a mailbox
 * provider sends for the `List-Unsubscribe` header, and the hosted page's confirm button, which
 * posts the same form. Acts for the workspace the signed token names; no API key is involved.
 *
 * An unsubscribe suppresses the recipient for broadcast mail (reason `unsubscribe`, scope
 * `broadcast`, source `one_click`) and writes `message.unsubscribed` in the same transaction as
 * its `suppression.added`, only when the entry is new or changed: a repeated POST changes nothing
 * and writes nothing, and answers as the first did. A token that does not verify changes nothing.
 * Mail to the List-Unsubscribe mailto address (the bounce listener, `unsubscribeByMailto`) does
 * the same with source `mailto`.
 */
import { HeraldError } from '../core/errors.js';
import type { Message } from '../core/types.js';
import type { NewEvent } from '../store/store.js';
import { readUnsubscribeToken, type UnsubscribeSubject } from '../tracking/unsubscribe-links.js';
import type { ServiceDeps } from './deps.js';
import { suppressAddresses } from './suppressions.js';

/** What the unsubscribe endpoints need beyond the services' dependencies. */
export interface UnsubscribeSettings {
  /** The HMAC key the engine signs unsubscribe tokens with. */
  key: Uint8Array;
}

/** How the recipient unsubscribed: the provider's one-click POST, the hosted page's button, or mail to the List-Unsubscribe mailto address. */
export type UnsubscribeMethod = 'one_click' | 'page' | 'mailto';

/** The one value RFC 8058 allows for the `List-Unsubscribe` field of the POST body. */
export const ONE_CLICK_VALUE = 'One-Click';

/** The suppression source every unsubscribe link writes (the page posts the one-click form too). */
export const UNSUBSCRIBE_SOURCE = 'one_click';

/** The suppression source of an unsubscribe by mail to the mailto address (bounce listener). */
export const MAILTO_UNSUBSCRIBE_SOURCE = 'mailto';

export interface UnsubscribeResult {
  /** The address unsubscribed. */
  recipient: string;
  /** False when it already was (nothing was written). */
  changed: boolean;
}

/**
 * What a token names, when it is a valid unsubscribe token for broadcast mail; else
 * `invalid_unsubscribe_link`, the same for a changed, cut, foreign or garbage token.
 */
export function resolveUnsubscribeToken(settings: UnsubscribeSettings, token: string): UnsubscribeSubject {
  const subject = readUnsubscribeToken(settings.key, token);
  if (subject === null || subject.stream !== 'broadcast') throw new HeraldError('invalid_unsubscribe_link');
  return subject;
}

/**
 * Unsubscribes the recipient a token names from the workspace's broadcast mail. `field` is the
 * body's `List-Unsubscribe` value, which must be `One-Click`.
 *
 * @example
 * await unsubscribe(deps, settings, token, { field: 'One-Click', method: 'one_click' });
 * // { recipient: 'ann@example.org', changed: true }; the same call again: changed: false
 */
export async function unsubscribe(
  deps: ServiceDeps,
  settings: UnsubscribeSettings,
  token: string,
  input: { field: string | undefined; method: UnsubscribeMethod },
): Promise<UnsubscribeResult> {
  const subject = resolveUnsubscribeToken(settings, token);
  if (input.field?.trim() !== ONE_CLICK_VALUE) throw new HeraldError('one_click_body_required');
  const message = await deps.store.getMessage(subject.workspaceId, subject.messageId);
  // A message may be gone; its workspace must not be (a token of another installation sharing
  // the key would otherwise write into nothing).
  if (message === null && (await deps.store.findWorkspace(subject.workspaceId))?.id !== subject.workspaceId) {
    throw new HeraldError('invalid_unsubscribe_link');
  }
  return recordUnsubscribe(deps, subject, message, input.method, UNSUBSCRIBE_SOURCE);
}

/**
 * Unsubscribes the recipient of a broadcast message from the workspace's broadcast mail, for mail
 * that came to the message's `List-Unsubscribe` mailto address (its signed token names the
 * message, verified by the bounce listener). Null when there is no such broadcast message.
 *
 * @example
 * await unsubscribeByMailto(deps, 'msg_0lzx3k1q8000094sk2wz7q1hd'); // { recipient: 'ann@example.org', changed: true }
 */
export async function unsubscribeByMailto(deps: ServiceDeps, messageId: string): Promise<UnsubscribeResult | null> {
  const message = await deps.store.findMessageById(messageId);
  if (message === null || message.stream !== 'broadcast') return null;
  const subject: UnsubscribeSubject = { workspaceId: message.workspaceId, messageId, recipient: message.recipient, stream: message.stream };
  return recordUnsubscribe(deps, subject, message, 'mailto', MAILTO_UNSUBSCRIBE_SOURCE);
}

async function recordUnsubscribe(
  deps: ServiceDeps,
  subject: UnsubscribeSubject,
  message: Message | null,
  method: UnsubscribeMethod,
  source: string,
): Promise<UnsubscribeResult> {
  const event: NewEvent = {
    id: deps.ids.next('event'),
    workspaceId: subject.workspaceId,
    type: 'message.unsubscribed',
    messageId: subject.messageId,
    batchId: message?.batchId ?? null,
    recipient: subject.recipient,
    data: {
      method,
      message_id: subject.messageId,
      stream: subject.stream,
      // As on the engine's message.* events, so consumers can route without a lookup.
      ...(message !== null ? { tags: message.tags, metadata: message.metadata } : {}),
    },
    createdAt: deps.clock.now().toISOString(),
  };
  const [write] = await suppressAddresses(deps, subject.workspaceId, [
    { email: subject.recipient, reason: 'unsubscribe', scope: 'broadcast', source, related: [event] },
  ]);
  return { recipient: subject.recipient, changed: write !== undefined && write.change !== 'unchanged' };
}
