/**
 * What an unsubscribe link names and how it is spelled: the signed token (tokens.ts, purpose
 * `unsubscribe`), the one-click URL `<base>/u/<token>`, and the two RFC 8058 headers built from
 * it and the mailto address at the bounce domain (verp.ts). The delivery engine
 * writes them into broadcast mail; the unsubscribe service reads the token back.
 *
 * Pure: the key and the base URL are passed in.
 */
import type { Stream } from '../core/types.js';
import { signToken, verifyToken } from './tokens.js';

const PURPOSE = 'unsubscribe';
const STREAMS: readonly string[] = ['transactional', 'broadcast'];

/** Who unsubscribes from what: the message whose link was used. */
export interface UnsubscribeSubject {
  workspaceId: string;
  messageId: string;
  /** The message's recipient, as it was sent to. */
  recipient: string;
  stream: Stream;
}

/** What the engine needs to put unsubscribe links into broadcast mail. */
export interface UnsubscribeLinkSettings {
  /** The HMAC key (`--secret-key`, or `<data>/secret.key`). */
  key: Uint8Array;
  /**
   * Where the world reaches the API: `--public-url`, else `http://HOST:PORT`. A function, so a
   * port chosen when the API starts listening is used by mail built after that.
   */
  baseUrl: () => string;
  /** Append a footer with the link to broadcast mail whose html shows none (`--unsubscribe-footer`). */
  footer: boolean;
  /**
   * Where the mailto address lives (`--bounce-domain`, whose listener turns mail to it into an
   * unsubscribe; mail from a verified sending domain has it at `bounces.<domain>` instead, see
   * engine/message-builder.ts); none: the header carries the URL alone.
   */
  mailtoDomain?: string | undefined;
}

/** The token for `subject`'s unsubscribe links. */
export function unsubscribeToken(key: Uint8Array, subject: UnsubscribeSubject): string {
  return signToken(key, PURPOSE, [subject.workspaceId, subject.messageId, subject.recipient, subject.stream]);
}

/** What a token names, or null when it is not a valid unsubscribe token of `key`. */
export function readUnsubscribeToken(key: Uint8Array, token: string): UnsubscribeSubject | null {
  const fields = verifyToken(key, PURPOSE, token);
  if (fields === null || fields.length !== 4) return null;
  const [workspaceId = '', messageId = '', recipient = '', stream = ''] = fields;
  if (workspaceId === '' || messageId === '' || recipient === '' || !STREAMS.includes(stream)) return null;
  return { workspaceId, messageId, recipient, stream: stream as Stream };
}

/** The one-click URL: `<base>/u/<token>`, keeping any path the base has. */
export function unsubscribeUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/u/${token}`;
}

/**
 * The RFC 8058 pair: `List-Unsubscribe` with the HTTPS URL first and, when there is one, the
 * mailto address second (`unsubscribe+<short token>@<bounce domain>`, verp.ts: the link token is
 * too long for a local part), and `List-Unsubscribe-Post`.
 *
 * @example
 * listUnsubscribeHeaders('https://mail.example.com/u/v1.x.y', 'unsubscribe+0lzx…-k3x5…@bounce.example.com');
 * // { 'List-Unsubscribe': '<https://mail.example.com/u/v1.x.y>, <mailto:unsubscribe+0lzx…-k3x5…@bounce.example.com>',
 * //   'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
 */
export function listUnsubscribeHeaders(url: string, mailto: string | null): Record<string, string> {
  return {
    'List-Unsubscribe': mailto === null ? `<${url}>` : `<${url}>, <mailto:${mailto}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}
