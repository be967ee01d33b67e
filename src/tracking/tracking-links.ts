/**
 * What the open pixel and tracked links name and how they are spelled: signed tokens (tokens.ts,
 * purposes `open` and `click`) under `<public-url>/t/o/<token>` and `<public-url>/t/c/<token>`.
 * A click token carries the destination URL itself, so a redirect needs no lookup and a URL that
 * Herald did not sign can never be redirected to: a changed, cut or foreign token is refused.
 *
 * Pure: the key and the base URL are passed in.
 */
import { signToken, verifyToken } from './tokens.js';

const OPEN = 'open';
const CLICK = 'click';

/** Longest destination URL a link is rewritten for; longer links are left untracked (tokens stay under 2 KiB). */
export const MAX_TRACKED_URL_LENGTH = 1200;

/** What the engine needs to track opens and clicks. */
export interface TrackingLinkSettings {
  /** The HMAC key (`--secret-key`, or `<data>/secret.key`), the same that signs unsubscribe links. */
  key: Uint8Array;
  /** `--public-url`: where recipients' mail clients reach `/t/…`. */
  baseUrl: string;
}

/** The message an open or click token was made for. */
export interface TrackedMessage {
  workspaceId: string;
  messageId: string;
}

export interface TrackedClick extends TrackedMessage {
  /** The destination, exactly as the link had it (entities decoded). */
  url: string;
}

function base(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/** Whether `url` is an absolute http(s) URL a click may redirect to. */
export function isTrackableUrl(url: string): boolean {
  if (url.length > MAX_TRACKED_URL_LENGTH || /[\s\n\\]/.test(url)) return false;
  if (!/^https?:\/\//i.test(url)) return false;
  try {
    const parsed = new URL(url);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '';
  } catch {
    return false;
  }
}

/** The open pixel's URL for a message. */
export function openPixelUrl(settings: TrackingLinkSettings, message: TrackedMessage): string {
  return `${base(settings.baseUrl)}/t/o/${signToken(settings.key, OPEN, [message.workspaceId, message.messageId])}`;
}

/** The tracked URL for a link of a message to `url` (which must pass `isTrackableUrl`). */
export function clickUrl(settings: TrackingLinkSettings, message: TrackedMessage, url: string): string {
  return `${base(settings.baseUrl)}/t/c/${signToken(settings.key, CLICK, [message.workspaceId, message.messageId, url])}`;
}

/** What an open token names; null when it is not a valid open token of `key`. */
export function readOpenToken(key: Uint8Array, token: string): TrackedMessage | null {
  const fields = verifyToken(key, OPEN, token);
  if (fields === null || fields.length !== 2) return null;
  const [workspaceId = '', messageId = ''] = fields;
  if (workspaceId === '' || messageId === '') return null;
  return { workspaceId, messageId };
}

/** What a click token names; null when it is not a valid click token of `key` or its URL is not http(s). */
export function readClickToken(key: Uint8Array, token: string): TrackedClick | null {
  const fields = verifyToken(key, CLICK, token);
  if (fields === null || fields.length !== 3) return null;
  const [workspaceId = '', messageId = '', url = ''] = fields;
  if (workspaceId === '' || messageId === '' || !isTrackableUrl(url)) return null;
  return { workspaceId, messageId, url };
}
