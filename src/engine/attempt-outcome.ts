/**
 * Turns one delivery attempt's transport result into the record the store applies: the next
 * status, when to try again, and the event that reports the transition. Owns the policy of
 * "what happens next"; knows nothing of sockets or SQL.
 */
import { verdictForReply } from '../core/delivery-outcome.js';
import type { IdSource } from '../core/ids.js';
import { nextAttemptAt, type RetryPolicy } from '../core/retry-policy.js';
import type { SuppressionHit } from '../core/suppression.js';
import type { Message } from '../core/types.js';
import type { AttemptRecord, NewEvent } from '../store/store.js';
import type { TransportResult } from '../transports/transport.js';

export interface OutcomeContext {
  ids: IdSource;
  retry: RetryPolicy;
  owner: string;
  now: Date;
  /** A number in [0, 1) for the retry jitter. */
  random: () => number;
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
export function outcomeOfAttempt(ctx: OutcomeContext, message: Message, transport: string, result: TransportResult): AttemptRecord {
  if (result.holdMs !== undefined) return outcomeOfHold(ctx, message, result.holdMs);
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
      return record(ctx, message, {
        attempts,
        status: 'bounced',
        lastReply: result.reply,
        bounceClass: verdict.bounceClass,
        event: event(ctx, message, 'message.bounced', {
          ...base,
          bounce_class: verdict.bounceClass,
          enhanced_status: verdict.enhancedStatus,
        }),
      });
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
