/**
 * The life of one message (one email to one recipient).
 *
 * ```
 *   queued ──claim──> sending ──2xx──> sent ──(provider report)──> delivered
 *     ^                  │ ├──4xx / timeout / connection──> deferred ──due──> sending
 *     │                  │ ├──5xx──> bounced
 *     └──lease expired───┘ └──deferred past max age, or unrecoverable──> failed
 *   queued | deferred ──cancel──> cancelled;  queued ──suppressed at send time──> suppressed
 * ```
 * A bounce report (DSN, provider webhook) may still move a `sent` or `delivered` message to
 * `bounced`: the receiving server took it and bounced it later.
 * `sent`, `delivered`, `bounced`, `failed`, `suppressed` and `cancelled` are final for delivery;
 * engagement (opened, clicked, complained, unsubscribed) are events, not states.
 */
export const MESSAGE_STATUS = {
  queued: 'queued',
  sending: 'sending',
  sent: 'sent',
  delivered: 'delivered',
  deferred: 'deferred',
  bounced: 'bounced',
  failed: 'failed',
  suppressed: 'suppressed',
  cancelled: 'cancelled',
} as const;

export type MessageStatus = (typeof MESSAGE_STATUS)[keyof typeof MESSAGE_STATUS];

export const MESSAGE_STATUSES: readonly MessageStatus[] = Object.values(MESSAGE_STATUS);

const TRANSITIONS: Record<MessageStatus, readonly MessageStatus[]> = {
  queued: ['sending', 'cancelled', 'suppressed'],
  sending: ['sent', 'deferred', 'bounced', 'failed', 'queued', 'suppressed', 'cancelled'],
  deferred: ['sending', 'cancelled', 'failed'],
  sent: ['delivered', 'bounced'],
  // A bounce reported after a delivery report: the receiving server took the message, then bounced it.
  delivered: ['bounced'],
  bounced: [],
  failed: [],
  suppressed: [],
  cancelled: [],
};

/** Whether a message may move from `from` to `to`. */
export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses from which the engine may claim a message for delivery. */
export const CLAIMABLE: readonly MessageStatus[] = ['queued', 'deferred'];

/** Statuses of a message that was handed over: the only ones feedback (bounces, complaints, delivery reports) applies to. */
export const HANDED_OVER: readonly MessageStatus[] = ['sent', 'delivered'];
