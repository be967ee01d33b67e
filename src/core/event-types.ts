/**
 * The vocabulary of the event log: every `type` Herald writes, or will write, as one `as const`
 * list. `/v1/events` validates its `type` filter against it and webhook endpoints validate their
 * subscriptions against it (`events/webhooks/event-filter.ts`), so a typo is refused instead of
 * turning into a silently empty feed. What each type carries in `data` is in docs/events.md.
 *
 * Families (`message.`, `batch.`, …) are the part before the first dot; a filter may name a whole
 * family as `message.*`. Adding a type: append it here (in its family), describe its data in
 * docs/events.md, and, if stats should count it, map it in `core/event-rollup.ts`.
 *
 * Not in the list: `batch.state`, the snapshot the batch progress stream sends first — it is
 * made for the stream and never written to the log.
 */
export const EVENT_TYPES = [
  // ---- message.*: one message (one recipient), written with the state change it reports -----
  /** Taken in by the API, the SMTP relay or a batch submission's /v1/emails path; durable from here. */
  'message.accepted',
  /** The receiving server (or the capture outbox) took the message: a 2xx reply. */
  'message.sent',
  /** A temporary failure (4xx, timeout, connection error); retried at `retry_at`. */
  'message.deferred',
  /** A permanent failure (5xx) or a bounce report; `bounce_class` is `hard` or `soft`. */
  'message.bounced',
  /** Given up without a bounce: past its maximum age, or it cannot be composed. */
  'message.failed',
  /** Held back because the recipient is on the workspace's suppression list. */
  'message.suppressed',
  /** Its batch was cancelled before it was handed to a transport. */
  'message.cancelled',
  // Written by the feedback loop and tracking (issue #5); unsubscribed is written already:
  /** The recipient's provider reported final delivery (provider webhooks, DSN success). */
  'message.delivered',
  /** The tracking pixel was loaded; `first: true` on the first open of the message. */
  'message.opened',
  /** A tracked link was followed; `first: true` on the first click of the message. */
  'message.clicked',
  /** A spam complaint (ARF feedback loop or a provider report). */
  'message.complained',
  /** The recipient unsubscribed (List-Unsubscribe or the unsubscribe page). */
  'message.unsubscribed',

  // ---- batch.*: a batch's own life (message_id null, batch_id set) ----------------------------
  /** The batch's rows are committed; `total` recipients, `rejected` rows. */
  'batch.created',
  /** The canary sample started sending. */
  'batch.canary_started',
  /** Sending to everyone (no canary, or the canary was approved). */
  'batch.sending',
  /** The canary sample is done; waiting for approval unless `hold` is false. */
  'batch.awaiting_approval',
  /** Approved, by an operator or automatically when the sample was healthy. */
  'batch.approved',
  /** Paused by an operator or by a guard rail (`automatic: true`, with its `reason`). */
  'batch.paused',
  /** Resumed by an operator. */
  'batch.resumed',
  /** Cancelled by an operator; its unsent messages are cancelled with it. */
  'batch.cancelled',
  /** Every message reached a final state; `counters` and the `export_url`. */
  'batch.completed',
  /** Counters, rate and ETA, at most once per progress interval across all workers. */
  'batch.progress',

  // ---- other families ----------------------------------------------------------------------------
  /** An address was added to (or changed on) the suppression list. */
  'suppression.added',
  /** A sending domain's DNS records (DKIM, SPF, return path) checked out (later issue). */
  'domain.verified',
  /** A webhook endpoint was disabled: 410 Gone, or failing longer than --webhook-disable-after. */
  'webhook.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
