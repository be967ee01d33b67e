/** Batch records → the API's JSON. */
import type { BatchState } from '../services/batch-control.js';
import type { AuditEntry, BatchRecord, BatchRejection } from '../store/store.js';

export function batchView(state: BatchState) {
  return {
    ...batchSummaryView(state.batch),
    counters: state.counters,
    rate_per_second: state.ratePerSecond,
    eta_seconds: state.etaSeconds,
  };
}

export function batchSummaryView(batch: BatchRecord) {
  return {
    id: batch.id,
    status: batch.status,
    status_reason: batch.statusReason,
    total: batch.total,
    rejected: batch.rejected,
    sample_size: batch.sampleSize,
    stream: batch.stream,
    send_at: batch.sendAt,
    options: batch.options,
    created_at: batch.createdAt,
    updated_at: batch.updatedAt,
    completed_at: batch.completedAt,
  };
}

export function rejectionView(r: BatchRejection & { seq: number }) {
  return { row: r.row, email: r.email, reason: r.reason, detail: r.detail };
}

export function auditView(entry: AuditEntry & { seq: number }) {
  return { id: entry.id, action: entry.action, resource: entry.resource, key_id: entry.keyId, detail: entry.detail, created_at: entry.createdAt };
}
