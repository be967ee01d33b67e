/** Domain records → the API's snake_case JSON. One place, so every route shows a record alike. */
import type { Message, MessageEvent } from '../core/types.js';
import type { OutboxEntry } from '../store/store.js';

const FINAL = new Set(['sent', 'delivered', 'bounced', 'failed', 'suppressed', 'cancelled']);

export function messageView(message: Message, events?: MessageEvent[]) {
  return {
    id: message.id,
    status: message.status,
    from: message.sender,
    to: message.recipient,
    subject: message.subject,
    stream: message.stream,
    message_id_header: message.messageIdHeader,
    batch_id: message.batchId,
    tags: message.tags,
    metadata: message.metadata,
    attempts: message.attempts,
    next_attempt_at: FINAL.has(message.status) ? null : message.dueAt,
    expires_at: message.expiresAt,
    last_reply: message.lastReply,
    bounce_class: message.bounceClass,
    created_at: message.createdAt,
    updated_at: message.updatedAt,
    ...(events ? { events: events.map((e) => ({ id: e.id, type: e.type, created_at: e.createdAt, data: e.data })) } : {}),
  };
}

export function outboxView(entry: OutboxEntry) {
  return { message_id: entry.messageId, to: entry.recipient, subject: entry.subject, size: entry.size, captured_at: entry.capturedAt };
}

/**
 * An event of the log as `/v1/events` and its stream show it: the same shape webhooks deliver,
 * so a consumer parses one format whichever way it reads events.
 */
export { eventPayload as eventLogView } from '../events/webhooks/payload.js';
