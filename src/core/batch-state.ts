/**
 * The life of a batch. A batch is a set of messages; these states decide which of its messages
 * the engine may claim, never how they are sent.
 *
 * ```
 *   validating ──all rows committed──> scheduled ──send_at reached──┬──> canary ──sample final──> awaiting_approval
 *        │ (upload failed: deleted)        │                        │                                  │ approve, or hold_seconds
 *        v                                 └─(no canary)────────────┴─────────────> sending <─────────────┘ with rates under thresholds
 *     (gone)                                                                         │   ^
 *                                                        guard rail / pause ──────> paused ──resume──┘
 *   any state but completed ──cancel──> cancelled;   sending ──nothing left to send──> completed
 * ```
 * In `canary` only the sampled messages are claimed; in `sending` all; in every other state none.
 */
export const BATCH_STATUS = {
  validating: 'validating',
  scheduled: 'scheduled',
  canary: 'canary',
  awaitingApproval: 'awaiting_approval',
  sending: 'sending',
  paused: 'paused',
  completed: 'completed',
  cancelled: 'cancelled',
} as const;

export type BatchStatus = (typeof BATCH_STATUS)[keyof typeof BATCH_STATUS];

export const BATCH_STATUSES: readonly BatchStatus[] = Object.values(BATCH_STATUS);

const TRANSITIONS: Record<BatchStatus, readonly BatchStatus[]> = {
  validating: ['scheduled', 'cancelled'],
  scheduled: ['canary', 'sending', 'paused', 'cancelled'],
  canary: ['awaiting_approval', 'paused', 'cancelled'],
  awaiting_approval: ['sending', 'paused', 'cancelled'],
  sending: ['paused', 'completed', 'cancelled'],
  paused: ['sending', 'canary', 'awaiting_approval', 'scheduled', 'cancelled'],
  completed: [],
  cancelled: [],
};

export function canBatchTransition(from: BatchStatus, to: BatchStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States whose messages the engine claims; `canary` claims the sample only. */
export const CLAIMING: readonly BatchStatus[] = ['canary', 'sending'];

/** States in which the supervisor has work: timers, sample watching, completion. */
export const SUPERVISED: readonly BatchStatus[] = ['scheduled', 'canary', 'awaiting_approval', 'sending'];

/** Per-batch counters by message state, plus what intake refused. */
export interface BatchCounters {
  total: number;
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  deferred: number;
  bounced: number;
  failed: number;
  suppressed: number;
  rejected: number;
  cancelled: number;
}

/** Message states that are final for delivery. */
export const FINAL_MESSAGE_STATES = ['sent', 'delivered', 'bounced', 'failed', 'suppressed', 'cancelled'] as const;

export interface GuardRails {
  /** Pause when bounced / outcomes exceeds this (0..1). */
  maxBounceRate: number;
  /** Pause when complaints / outcomes exceeds this (0..1). */
  maxComplaintRate: number;
  /** Rates are judged only after this many outcomes. */
  minOutcomes: number;
}

export const DEFAULT_GUARD_RAILS: GuardRails = Object.freeze({ maxBounceRate: 0.05, maxComplaintRate: 0.003, minOutcomes: 100 });

/**
 * Why a batch must stop, or null: the bounce or complaint rate over its outcomes so far, once
 * there are enough outcomes to judge. Pure.
 */
export function guardRailBreach(counters: BatchCounters, complaints: number, rails: GuardRails): string | null {
  const outcomes = counters.sent + counters.delivered + counters.bounced + counters.failed;
  if (outcomes < rails.minOutcomes || outcomes === 0) return null;
  const bounceRate = counters.bounced / outcomes;
  if (bounceRate > rails.maxBounceRate) {
    return `bounce rate ${(bounceRate * 100).toFixed(2)}% over ${outcomes} outcomes exceeds ${(rails.maxBounceRate * 100).toFixed(2)}%`;
  }
  const complaintRate = complaints / outcomes;
  if (complaintRate > rails.maxComplaintRate) {
    return `complaint rate ${(complaintRate * 100).toFixed(2)}% over ${outcomes} outcomes exceeds ${(rails.maxComplaintRate * 100).toFixed(2)}%`;
  }
  return null;
}

/** The counters of a batch from its message counts by state and what intake refused. */
export function countersOf(total: number, rejected: number, counts: Partial<Record<string, number>>): BatchCounters {
  const n = (status: string) => counts[status] ?? 0;
  return {
    total,
    queued: n('queued'),
    sending: n('sending'),
    sent: n('sent'),
    delivered: n('delivered'),
    deferred: n('deferred'),
    bounced: n('bounced'),
    failed: n('failed'),
    suppressed: n('suppressed'),
    rejected,
    cancelled: n('cancelled'),
  };
}

/** Messages not yet final: waiting, in flight, or to be retried. */
export function pendingOf(counters: BatchCounters): number {
  return counters.queued + counters.sending + counters.deferred;
}

/** Messages whose delivery is decided. */
export function doneOf(counters: BatchCounters): number {
  return counters.sent + counters.delivered + counters.bounced + counters.failed + counters.suppressed + counters.cancelled;
}
