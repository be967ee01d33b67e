/**
 * Opens and clicks, as the public tracking endpoints report them: the signed token says which
 * message, the request says who (user agent, address) and when. Acts for the workspace the token
 * names; no API key is involved.
 *
 * - An open writes `message.opened` for the first open of the message (`first: true`) and, when
 *   that one looked like a machine's, once more for the first open that does not
 *   (`first_human: true`); other opens write nothing.
 * - Every click writes `message.clicked` with the URL: `first` on the first click of the message,
 *   `first_for_link` on the first of that URL, `first_human` on the first that was not a machine's.
 *
 * Which event is a first is decided by the store (marks claimed atomically), so two processes
 * never both report one. Nothing here throws for a bad token or an unknown message: the caller
 * answers the same way whatever happened (a pixel, or a 404 page) and logs the reason returned.
 */
import { createHash } from 'node:crypto';
import type { Message } from '../core/types.js';
import type { NewEvent } from '../store/store.js';
import { machineClickReason, machineOpenReason, type EngagementRequest } from '../tracking/machine-traffic.js';
import { readClickToken, readOpenToken, type TrackedMessage } from '../tracking/tracking-links.js';
import type { ServiceDeps } from './deps.js';

/** What the tracking endpoints need beyond the services' dependencies. */
export interface TrackingSettings {
  /** The HMAC key the engine signs tracking tokens with. */
  key: Uint8Array;
}

/** The request as the endpoint saw it. */
export interface EngagementSource {
  userAgent: string;
  ip: string;
}

/** What became of a request: whether an event was written, and why not when it was not. */
export interface EngagementOutcome {
  recorded: boolean;
  /** For the log: `invalid_token`, `unknown_message`, `not_sent`, `repeat_open`; null when recorded. */
  reason: string | null;
}

/** A click's outcome and where to send the reader (null: nowhere, the token was not ours). */
export interface ClickOutcome extends EngagementOutcome {
  url: string | null;
}

/** Longest user agent kept on an event. */
const MAX_USER_AGENT = 512;

/** The message a token names, when it exists in that workspace and was handed to a transport. */
async function trackedMessage(deps: ServiceDeps, subject: TrackedMessage): Promise<{ message: Message } | { reason: string }> {
  const message = await deps.store.getMessage(subject.workspaceId, subject.messageId);
  // A foreign workspace reads as an unknown message: getMessage is scoped by workspace.
  if (message === null) return { reason: 'unknown_message' };
  if (message.attempts === 0 && message.status !== 'sent' && message.status !== 'delivered') return { reason: 'not_sent' };
  return { message };
}

function eventOf(deps: ServiceDeps, message: Message, type: string, at: Date, data: Record<string, unknown>): NewEvent {
  return {
    id: deps.ids.next('event'),
    workspaceId: message.workspaceId,
    type,
    messageId: message.id,
    batchId: message.batchId,
    recipient: message.recipient,
    data: { message_id: message.id, ...data, tags: message.tags, metadata: message.metadata },
    createdAt: at.toISOString(),
  };
}

function requestData(request: EngagementRequest): Record<string, unknown> {
  return { user_agent: request.userAgent.slice(0, MAX_USER_AGENT), ip: request.ip, at: request.at.toISOString() };
}

/** When the message was sent, as far as its record tells (its last change, while it is sent or delivered). */
function sentAtOf(message: Message): Date | null {
  return message.status === 'sent' || message.status === 'delivered' ? new Date(message.updatedAt) : null;
}

/**
 * Records an open for the pixel's token.
 *
 * @example
 * await recordOpen(deps, settings, token, { userAgent: 'Mozilla/5.0 …', ip: '198.51.100.7' });
 * // { recorded: true, reason: null } the first time; { recorded: false, reason: 'repeat_open' } after
 */
export async function recordOpen(deps: ServiceDeps, settings: TrackingSettings, token: string, source: EngagementSource): Promise<EngagementOutcome> {
  const subject = readOpenToken(settings.key, token);
  if (subject === null) return { recorded: false, reason: 'invalid_token' };
  const found = await trackedMessage(deps, subject);
  if ('reason' in found) return { recorded: false, reason: found.reason };
  const { message } = found;
  const request = { ...source, at: deps.clock.now() };
  const machine = machineOpenReason(request, sentAtOf(message));
  let written = false;
  await deps.store.recordEngagement({
    workspaceId: message.workspaceId,
    messageId: message.id,
    marks: machine === null ? ['open', 'open:human'] : ['open'],
    now: request.at.toISOString(),
    event: (fresh) => {
      if (!fresh.has('open') && !fresh.has('open:human')) return null;
      written = true;
      return eventOf(deps, message, 'message.opened', request.at, {
        first: fresh.has('open'),
        first_human: fresh.has('open:human'),
        machine: machine !== null,
        ...(machine !== null ? { machine_reason: machine } : {}),
        ...requestData(request),
      });
    },
  });
  return written ? { recorded: true, reason: null } : { recorded: false, reason: 'repeat_open' };
}

/** A short, stable name of a URL for its first-click mark. */
function linkHash(url: string): string {
  return createHash('sha256').update(url).digest('base64url').slice(0, 22);
}

/** Where a click token sends the reader, without recording anything: its signed URL, or null. */
export function clickDestination(settings: TrackingSettings, token: string): string | null {
  return readClickToken(settings.key, token)?.url ?? null;
}

/**
 * Records a click for a tracked link's token and says where to send the reader: the signed URL,
 * or null when the token is not a valid click token of this key (never anywhere else).
 */
export async function followClick(deps: ServiceDeps, settings: TrackingSettings, token: string, source: EngagementSource): Promise<ClickOutcome> {
  const subject = readClickToken(settings.key, token);
  if (subject === null) return { url: null, recorded: false, reason: 'invalid_token' };
  // The URL is ours (signed), so the reader goes there even when the click cannot be recorded.
  const found = await trackedMessage(deps, subject);
  if ('reason' in found) return { url: subject.url, recorded: false, reason: found.reason };
  const { message } = found;
  const request = { ...source, at: deps.clock.now() };
  const machine = machineClickReason(request);
  const link = `click:${linkHash(subject.url)}`;
  await deps.store.recordEngagement({
    workspaceId: message.workspaceId,
    messageId: message.id,
    marks: machine === null ? ['click', link, 'click:human'] : ['click', link],
    now: request.at.toISOString(),
    event: (fresh) =>
      eventOf(deps, message, 'message.clicked', request.at, {
        url: subject.url,
        first: fresh.has('click'),
        first_for_link: fresh.has(link),
        first_human: fresh.has('click:human'),
        machine: machine !== null,
        ...(machine !== null ? { machine_reason: machine } : {}),
        ...requestData(request),
      }),
  });
  return { url: subject.url, recorded: true, reason: null };
}
