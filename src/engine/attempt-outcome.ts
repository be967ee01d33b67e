/**
 * Turns one delivery attempt's transport result into the record the store applies: the next
 * status, when to try again, and the event that reports the transition. Owns the policy of
 * "what happens next"; knows nothing of sockets or SQL. A bounce in the reply also carries the
 * bounce report and suppression entry the store writes with it (core/feedback-policy.ts).
 */
import { normaliseAddress } from '../core/address.js';
import { verdictForReply } from '../core/delivery-outcome.js';
import { SMTP_BOUNCE_SOURCE, SOFT_BOUNCE_SOURCE, softBounceWindowStart } from '../core/feedback-policy.js';
import type { IdSource } from '../core/ids.js';
import { nextAttemptAt, type RetryPolicy } from '../core/retry-policy.js';
import type { SuppressionHit } from '../core/suppression.js';
import { FREQUENCY_CAPPED, type FrequencyCap } from '../core/frequency-cap.js';
import type { Message } from '../core/types.js';
import type { AttemptBounce, AttemptRecord, NewEvent } from '../store/store.js';
import type { TransportResult } from '../transports/transport.js';

export interface OutcomeContext {
  ids: IdSource;
  retry: RetryPolicy;
  owner: string;
  now: Date;
  /** A number in [0, 1) for the retry jitter. */
  random: () => number;
  softBounces: SoftBounceSettings;
}

/** `--soft-bounce-limit` and `--soft-bounce-window`: how many soft bounces within how long suppress an address. */
export interface SoftBounceSettings {
  limit: number;
  windowSeconds: number;
}

function event(ctx: OutcomeContext, message: Message, type: string, data: Record<string, unknown>): NewEvent {
  return {
    id: ctx.ids.next('event'),
    workspaceId: message.workspaceId,
    type,
    messageId: message.id,
    batchId: message.batchId,
    recipient: message.recipient,
    data: { ...data, tags: message.tags, metadata: message.metadata },
    createdAt: ctx.now.toISOString(),
  };
}

function record(
  ctx: OutcomeContext,
  message: Message,
  fields: Pick<AttemptRecord, 'status' | 'lastReply' | 'bounceClass' | 'event'> & { dueAt?: string; attempts: number; expiresAt?: string },
): AttemptRecord {
  return {
    ...(fields.expiresAt !== undefined ? { expiresAt: fields.expiresAt } : {}),
    messageId: message.id,
    owner: ctx.owner,
    attempts: fields.attempts,
    status: fields.status,
    dueAt: fields.dueAt ?? message.dueAt,
    lastReply: fields.lastReply,
    bounceClass: fields.bounceClass,
    event: fields.event,
    workspaceId: message.workspaceId,
    now: ctx.now.toISOString(),
  };
}

/** The record for a message whose attempt produced `result` from `transport`. */
export function outcomeOfAttempt(ctx: OutcomeContext, message: Message, transport: string, answer: TransportResult): AttemptRecord {
  if (answer.holdMs !== undefined) return outcomeOfHold(ctx, message, answer.holdMs);
  // The reply is the remote server's text, kept in the store and in events: a hostile or broken
  // server's NUL bytes would make PostgreSQL refuse the whole chunk of outcomes, again and again.
  const result = { ...answer, reply: storableReply(answer.reply) };
  const attempts = message.attempts + 1;
  const verdict = verdictForReply(result.code, result.reply);
  const base = { attempt: attempts, transport, reply: result.reply, code: result.code };
  switch (verdict.status) {
    case 'sent': {
      const out = record(ctx, message, {
        attempts,
        status: 'sent',
        lastReply: result.reply,
        bounceClass: null,
        event: event(ctx, message, 'message.sent', base),
      });
      if (result.captured !== undefined) out.captured = result.captured;
      return out;
    }
    case 'bounced':
      return {
        ...record(ctx, message, {
          attempts,
          status: 'bounced',
          lastReply: result.reply,
          bounceClass: verdict.bounceClass,
          event: event(ctx, message, 'message.bounced', {
            ...base,
            bounce_class: verdict.bounceClass,
            enhanced_status: verdict.enhancedStatus,
          }),
        }),
        bounce: bounceReport(ctx, message, verdict.bounceClass, result.reply),
      };
    case 'deferred': {
      // A batch message may wait long (a schedule, a rate cap, a pause) before it is first tried:
      // its retry window starts at that first attempt, not at acceptance.
      const startsNow = message.batchId !== null && message.attempts === 0;
      const expiresAt = startsNow
        ? new Date(Math.max(new Date(message.expiresAt).getTime(), ctx.now.getTime() + ctx.retry.maxAgeSeconds * 1000))
        : new Date(message.expiresAt);
      const next = nextAttemptAt(ctx.retry, attempts, ctx.now, expiresAt, ctx.random());
      if (next === null) {
        return record(ctx, message, {
          attempts,
          status: 'failed',
          lastReply: result.reply,
          bounceClass: null,
          event: event(ctx, message, 'message.failed', { ...base, reason: 'expired', expires_at: message.expiresAt }),
        });
      }
      return record(ctx, message, {
        attempts,
        status: 'deferred',
        dueAt: next.toISOString(),
        ...(startsNow ? { expiresAt: expiresAt.toISOString() } : {}),
        lastReply: result.reply,
        bounceClass: null,
        event: event(ctx, message, 'message.deferred', { ...base, retry_at: next.toISOString() }),
      });
    }
  }
}

/**
 * The bounce report of a 5xx reply, as a reported bounce would make it (services/feedback.ts): a
 * hard bounce suppresses the recipient at once (source `smtp`), a soft one at the limit (source
 * `soft_bounces`); both in scope `all`, with a `suppression.added` event carrying the reply.
 */
function bounceReport(ctx: OutcomeContext, message: Message, bounceClass: 'hard' | 'soft', reply: string): AttemptBounce {
  const email = normaliseAddress(message.recipient);
  const at = ctx.now.toISOString();
  const source = bounceClass === 'hard' ? SMTP_BOUNCE_SOURCE : SOFT_BOUNCE_SOURCE;
  const entry = { email, reason: 'hard_bounce', scope: 'all', source } as const;
  return {
    recipient: email,
    bounceClass,
    source: SMTP_BOUNCE_SOURCE,
    suppression: {
      ...entry,
      workspaceId: message.workspaceId,
      createdAt: at,
      event: {
        id: ctx.ids.next('event'),
        workspaceId: message.workspaceId,
        type: 'suppression.added',
        messageId: null,
        batchId: null,
        recipient: email,
        data: { ...entry, reply },
        createdAt: at,
      },
    },
    ...(bounceClass === 'soft'
      ? { softBounceLimit: { since: softBounceWindowStart(ctx.now, ctx.softBounces.windowSeconds).toISOString(), limit: ctx.softBounces.limit } }
      : {}),
  };
}

/** The record for a message that can never be sent as it is (its content cannot be composed, say). */
export function outcomeOfFailure(ctx: OutcomeContext, message: Message, reason: string): AttemptRecord {
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'failed',
    lastReply: reason,
    bounceClass: null,
    event: event(ctx, message, 'message.failed', { reason }),
  });
}

/** The record for a message whose maximum age passed while it waited: fails without an attempt. */
export function outcomeOfExpiry(ctx: OutcomeContext, message: Message): AttemptRecord {
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'failed',
    lastReply: message.lastReply,
    bounceClass: null,
    event: event(ctx, message, 'message.failed', { reason: 'expired', expires_at: message.expiresAt, last_reply: message.lastReply }),
  });
}

/**
 * The record for a message the transport held back without trying (traffic shaping): back to
 * the queue, due when the destination has room again. Not an attempt, so no event and no count:
 * a large batch to one provider would otherwise flood the log and exhaust its retries.
 */
export function outcomeOfHold(ctx: OutcomeContext, message: Message, holdMs: number): AttemptRecord {
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'queued',
    dueAt: new Date(ctx.now.getTime() + holdMs).toISOString(),
    lastReply: message.lastReply,
    bounceClass: null,
    event: null,
  });
}

/** The record for a claimed batch message whose batch was cancelled before it was handed over. */
export function outcomeOfCancel(ctx: OutcomeContext, message: Message): AttemptRecord {
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'cancelled',
    lastReply: message.lastReply,
    bounceClass: null,
    event: event(ctx, message, 'message.cancelled', { reason: 'batch cancelled' }),
  });
}

/**
 * The record for a claimed message whose recipient is on the suppression list for its stream:
 * final, and not an attempt (nothing was handed to a transport).
 */
export function outcomeOfSuppression(ctx: OutcomeContext, message: Message, hit: SuppressionHit): AttemptRecord {
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'suppressed',
    lastReply: message.lastReply,
    bounceClass: null,
    event: event(ctx, message, 'message.suppressed', { reason: hit.reason, scope: hit.scope, checked: 'before_send' }),
  });
}

/**
 * The record for a claimed broadcast message whose recipient is over a frequency cap
 * (core/frequency-cap.ts). Not an attempt. `defer`: back to the queue as `deferred`, due when the
 * window opens, its expiry moved so the wait does not use up its retry time; `drop`: final, as
 * `suppressed` with reason `frequency_capped`.
 */
export function outcomeOfFrequencyCap(ctx: OutcomeContext, message: Message, hit: { cap: FrequencyCap; opensAt: string; counted: number }): AttemptRecord {
  const cap = { max: hit.cap.max, per_seconds: hit.cap.perSeconds, policy: hit.cap.policy, counted: hit.counted };
  const reply = `${FREQUENCY_CAPPED}: ${hit.counted} sent to this recipient in the last ${hit.cap.perSeconds}s (at most ${hit.cap.max})`;
  if (hit.cap.policy === 'drop') {
    return record(ctx, message, {
      attempts: message.attempts,
      status: 'suppressed',
      lastReply: reply,
      bounceClass: null,
      event: event(ctx, message, 'message.suppressed', { reason: FREQUENCY_CAPPED, checked: 'before_send', frequency_cap: cap }),
    });
  }
  const expiresAt = Math.max(new Date(message.expiresAt).getTime(), new Date(hit.opensAt).getTime() + ctx.retry.maxAgeSeconds * 1000);
  return record(ctx, message, {
    attempts: message.attempts,
    status: 'deferred',
    dueAt: hit.opensAt,
    expiresAt: new Date(expiresAt).toISOString(),
    lastReply: reply,
    bounceClass: null,
    event: event(ctx, message, 'message.deferred', { reason: FREQUENCY_CAPPED, retry_at: hit.opensAt, frequency_cap: cap }),
  });
}

/** The longest reply text kept; SMTP replies are short, a longer one is a broken or hostile server. */
const MAX_REPLY_CHARS = 2000;

/** A remote reply as the store may keep it: no control characters but tab, at most 2,000 characters. */
function storableReply(reply: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = reply.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  return clean.length > MAX_REPLY_CHARS ? `${clean.slice(0, MAX_REPLY_CHARS)}…` : clean;
}
