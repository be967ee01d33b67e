/**
 * What a webhook request carries: each event as one JSON object, and the body of a delivery —
 * the object itself, or an array of them when the endpoint batches (`batch.max_events` > 1).
 *
 * The body is built from the stored events on every attempt, and the same events always give the
 * same bytes, so a retry sends exactly what the first attempt sent (only the timestamp and the
 * signature over it change).
 *
 * Must not: read the store or the clock; sign (signature.ts does, over these exact bytes).
 */
import type { MessageEvent } from '../../core/types.js';

/** One event as receivers see it: the log's fields in snake_case, `data` as the writer recorded it. */
export interface EventPayload {
  id: string;
  type: string;
  created_at: string;
  message_id: string | null;
  batch_id: string | null;
  recipient: string | null;
  data: Record<string, unknown>;
}

export function eventPayload(event: MessageEvent): EventPayload {
  return {
    id: event.id,
    type: event.type,
    created_at: event.createdAt,
    message_id: event.messageId,
    batch_id: event.batchId,
    recipient: event.recipient,
    data: event.data,
  };
}

/**
 * The request body of a delivery of `events` (in seq order).
 *
 * @example
 * deliveryBody([sent], false)          // {"id":"evt_…","type":"message.sent",…}
 * deliveryBody([sent, bounced], true)  // [{"id":"evt_…",…},{"id":"evt_…",…}]
 */
export function deliveryBody(events: readonly MessageEvent[], batched: boolean): Buffer {
  const payloads = events.map(eventPayload);
  // A delivery made while the endpoint batched stays an array if batching was turned off since.
  return Buffer.from(JSON.stringify(batched || payloads.length !== 1 ? payloads : payloads[0]), 'utf8');
}
