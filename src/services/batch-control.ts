/**
 * Reading and steering batches: state with counters, rate and ETA; pause, resume, cancel and
 * approve; pointing a paused batch at a fixed template; rejections, recipients, the export and
 * the audit log. Every operator action is a conditional state change recorded in the audit log
 * with the key that did it.
 */
import { countersOf, pendingOf, type BatchCounters, type BatchStatus } from '../core/batch-state.js';
import { HeraldError } from '../core/errors.js';
import { MESSAGE_STATUSES, type MessageStatus } from '../core/message-state.js';
import type { Content, Message, MessageEvent } from '../core/types.js';
import type { AuditEntry, BatchRecord, BatchRejection } from '../store/store.js';
import { checkTemplateParts } from './batch-options.js';
import { auditEntry, batchEvent } from './batches.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';
import { resolveTemplateVersion } from './templates.js';

export interface BatchState {
  batch: BatchRecord;
  counters: BatchCounters;
  ratePerSecond: number | null;
  etaSeconds: number | null;
}

async function findBatch(deps: ServiceDeps, principal: Principal, id: string): Promise<BatchRecord> {
  const batch = await deps.store.getBatch(principal.workspaceId, id);
  if (!batch || batch.status === 'validating') throw new HeraldError('not_found', { resource: 'batch', id });
  return batch;
}

export async function getBatch(deps: ServiceDeps, principal: Principal, id: string): Promise<BatchState> {
  requireScope(principal, 'read');
  const batch = await findBatch(deps, principal, id);
  const counters = countersOf(batch.total, batch.rejected, await deps.store.countBatchMessages(batch.id));
  const progress = await deps.store.latestBatchEvent(batch.id, 'batch.progress');
  const live = batch.status === 'sending' || batch.status === 'canary';
  const rate = live && typeof progress?.data.rate_per_second === 'number' ? progress.data.rate_per_second : null;
  return {
    batch,
    counters,
    ratePerSecond: rate,
    etaSeconds: rate !== null && rate > 0 ? Math.ceil(pendingOf(counters) / rate) : null,
  };
}

export async function listBatches(deps: ServiceDeps, principal: Principal, query: { cursor?: string; limit?: number }): Promise<Page<BatchRecord>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 50;
  const rows = await deps.store.listBatches(principal.workspaceId, {
    limit: limit + 1,
    ...(query.cursor !== undefined ? { before: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

type Action = 'pause' | 'resume' | 'cancel' | 'approve';

const FROM: Record<Action, readonly BatchStatus[]> = {
  pause: ['scheduled', 'canary', 'awaiting_approval', 'sending'],
  resume: ['paused'],
  cancel: ['scheduled', 'canary', 'awaiting_approval', 'sending', 'paused'],
  approve: ['awaiting_approval'],
};

/** Where a resumed batch goes: back to its canary if the sample was not finished, else on. */
function resumeTarget(batch: BatchRecord, now: Date): BatchStatus {
  if (batch.sendAt !== null && new Date(batch.sendAt) > now && batch.canaryDoneAt === null) return 'scheduled';
  if (batch.options.canary && batch.sampleSize > 0 && batch.canaryDoneAt === null) return 'canary';
  return 'sending';
}

export async function controlBatch(deps: ServiceDeps, principal: Principal, id: string, action: Action, reason?: string): Promise<BatchState> {
  requireScope(principal, 'send');
  const batch = await findBatch(deps, principal, id);
  const now = deps.clock.now();
  const to: BatchStatus = action === 'pause' ? 'paused' : action === 'cancel' ? 'cancelled' : action === 'approve' ? 'sending' : resumeTarget(batch, now);
  const type = action === 'pause' ? 'batch.paused' : action === 'cancel' ? 'batch.cancelled' : action === 'approve' ? 'batch.approved' : 'batch.resumed';
  const detail = { automatic: false, key_id: principal.keyId, ...(reason ? { reason } : {}) };
  const moved = await deps.store.transitionBatch({
    batchId: batch.id,
    from: FROM[action],
    to,
    reason: action === 'pause' ? (reason ?? 'paused by an operator') : null,
    now: now.toISOString(),
    event: batchEvent(deps, batch, type, { ...detail, status: to, previous_status: batch.status }),
    audit: auditEntry(deps, principal, `batch.${action}`, batch.id, { from: batch.status, to, ...(reason ? { reason } : {}) }),
    ...(action === 'cancel' ? { cancelMessages: true } : {}),
  });
  if (!moved) {
    const current = await findBatch(deps, principal, id);
    throw new HeraldError('batch_state_conflict', { id, status: current.status, action });
  }
  deps.wake?.();
  return getBatch(deps, principal, id);
}

export interface TemplateChange {
  template_id?: string;
  template_version?: number;
  subject?: string;
  html?: string;
  text?: string;
}

/**
 * Points a paused batch at other content: a template version, or new inline sources. Messages
 * not yet sent get it; those already handed to a transport keep what they were sent with.
 */
export async function changeBatchTemplate(deps: ServiceDeps, principal: Principal, id: string, input: TemplateChange): Promise<BatchState> {
  requireScope(principal, 'send');
  const batch = await findBatch(deps, principal, id);
  if (batch.status !== 'paused') throw new HeraldError('batch_state_conflict', { id, status: batch.status, action: 'changing the template (pause it first)' });
  let parts: { subject: string; html?: string; text?: string };
  let templateId: string | null = null;
  let templateVersion: number | null = null;
  if (input.template_id !== undefined) {
    const version = await resolveTemplateVersion(deps, principal.workspaceId, input.template_id, input.template_version);
    parts = { subject: version.subject, ...(version.html !== null ? { html: version.html } : {}), ...(version.text !== null ? { text: version.text } : {}) };
    templateId = version.templateId;
    templateVersion = version.version;
  } else {
    if (input.html === undefined && input.text === undefined) throw new HeraldError('missing_content');
    parts = { subject: input.subject ?? '', ...(input.html !== undefined ? { html: input.html } : {}), ...(input.text !== undefined ? { text: input.text } : {}) };
  }
  checkTemplateParts(parts);
  const current = await currentContent(deps, batch);
  const content: Extract<Content, { kind: 'template' }> = {
    kind: 'template', from: current.from, replyTo: current.replyTo, headers: current.headers, subject: parts.subject,
    templateId, templateVersion, revision: current.revision + 1,
    ...(current.tracking !== undefined && parts.html !== undefined ? { tracking: current.tracking } : {}),
    ...(parts.html !== undefined ? { html: parts.html } : {}),
    ...(parts.text !== undefined ? { text: parts.text } : {}),
  };
  const options = { ...batch.options, template_id: templateId, template_version: templateVersion, content_revision: content.revision };
  const audit: AuditEntry = auditEntry(deps, principal, 'batch.template', batch.id, { template_id: templateId, template_version: templateVersion, revision: content.revision });
  await deps.store.updateBatchContent(batch.id, content, options, deps.clock.now().toISOString(), audit);
  return getBatch(deps, principal, id);
}

async function currentContent(deps: ServiceDeps, batch: BatchRecord): Promise<Extract<Content, { kind: 'template' }>> {
  const content = await deps.store.getContent(batch.contentId);
  if (!content || content.kind !== 'template') throw new HeraldError('not_found', { resource: 'batch content', id: batch.contentId });
  return content;
}

export async function listRejections(
  deps: ServiceDeps, principal: Principal, id: string, query: { cursor?: string; limit?: number },
): Promise<Page<BatchRejection & { seq: number }>> {
  requireScope(principal, 'read');
  const batch = await findBatch(deps, principal, id);
  const limit = query.limit ?? 100;
  const after = query.cursor === undefined ? 0 : Number(decodeCursor(query.cursor));
  const rows = await deps.store.listBatchRejections(batch.id, { after, limit: limit + 1 });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(String(last.seq)) : null };
}

export async function listRecipients(
  deps: ServiceDeps, principal: Principal, id: string, query: { status?: string; cursor?: string; limit?: number },
): Promise<Page<Message>> {
  requireScope(principal, 'read');
  const batch = await findBatch(deps, principal, id);
  if (query.status !== undefined && !MESSAGE_STATUSES.includes(query.status as MessageStatus)) {
    throw new HeraldError('validation_failed', { field: 'status', reason: `must be one of ${MESSAGE_STATUSES.join(', ')}` });
  }
  const limit = query.limit ?? 100;
  const rows = await deps.store.listBatchMessages(batch.id, {
    limit: limit + 1,
    ...(query.status !== undefined ? { status: query.status as MessageStatus } : {}),
    ...(query.cursor !== undefined ? { after: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

export interface ExportRow {
  email: string;
  status: string;
  reason: string | null;
  smtp_reply: string | null;
  attempts: number;
  message_id: string | null;
  accepted_at: string | null;
  updated_at: string | null;
}

/** Every recipient with its final state, in pages: messages in submission order, then rejections. */
export async function* exportBatch(deps: ServiceDeps, principal: Principal, id: string): AsyncGenerator<ExportRow> {
  requireScope(principal, 'read');
  const batch = await findBatch(deps, principal, id);
  let after: string | undefined;
  for (;;) {
    const page = await deps.store.listBatchMessages(batch.id, { limit: 5000, ...(after !== undefined ? { after } : {}) });
    for (const m of page) {
      yield {
        email: m.recipient, status: m.status, reason: m.bounceClass === null ? null : `${m.bounceClass}_bounce`, smtp_reply: m.lastReply,
        attempts: m.attempts, message_id: m.id, accepted_at: m.createdAt, updated_at: m.updatedAt,
      };
    }
    if (page.length < 5000) break;
    after = page.at(-1)?.id;
  }
  let seq = 0;
  for (;;) {
    const page = await deps.store.listBatchRejections(batch.id, { after: seq, limit: 5000 });
    for (const r of page) {
      yield { email: r.email, status: 'rejected', reason: `${r.reason}: ${r.detail} (row ${r.row})`, smtp_reply: null, attempts: 0, message_id: null, accepted_at: null, updated_at: null };
    }
    if (page.length < 5000) break;
    seq = page.at(-1)?.seq ?? seq;
  }
}

export async function listAudit(deps: ServiceDeps, principal: Principal, query: { cursor?: string; limit?: number }): Promise<Page<AuditEntry & { seq: number }>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 100;
  const rows = await deps.store.listAudit(principal.workspaceId, {
    limit: limit + 1,
    ...(query.cursor !== undefined ? { before: Number(decodeCursor(query.cursor)) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(String(last.seq)) : null };
}

/** The batch's own events after a sequence number, for live streams (SSE) and their resume. */
export async function batchEventsAfter(
  deps: ServiceDeps, principal: Principal, id: string, after: number, limit = 500,
): Promise<{ batch: BatchRecord; events: MessageEvent[] }> {
  requireScope(principal, 'read');
  const batch = await findBatch(deps, principal, id);
  return { batch, events: await deps.store.listBatchEvents(batch.id, { after, limit }) };
}
