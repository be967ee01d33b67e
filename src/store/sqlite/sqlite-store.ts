/**
 * The embedded store: SQLite in WAL mode through better-sqlite3. One connection per process;
 * several processes (a running server and the CLI) may share the file, serialised by SQLite's
 * write lock with a busy timeout. Every write method is one IMMEDIATE transaction.
 *
 * better-sqlite3 is synchronous, so each method is atomic within the process as well; the async
 * signatures are the port's, shared with the PostgreSQL adapter.
 */
import type { BucketRate } from '../../core/token-bucket.js';
import type { SignalListener, SignalTopic } from '../signals.js';
import * as coordination from './sqlite-coordination.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { MessageStatus } from '../../core/message-state.js';
import type { Message, MessageEvent, Workspace } from '../../core/types.js';
import {
  type AuditEntry,
  type BatchRecord,
  type BatchRejection,
  type BatchStatusCounts,
  UniqueViolation,
  type AcceptOutcome,
  type ApiKeyRecord,
  type AttemptRecord,
  type ClaimedMessage,
  type ClaimRequest,
  type MessageFilter,
  type NewEvent,
  type OutboxEntry,
  type Store,
  type Submission,
  type Template,
  type TemplateRevision,
  type TemplateSummary,
  type TemplateVersion,
  type TemplateVersionSummary,
} from '../store.js';
import type { Content } from '../../core/types.js';
import { migrateSqlite } from './sqlite-migrations.js';
import {
  toApiKey,
  toApiKeyRecord,
  toEvent,
  toMessage,
  toWorkspace,
  type ApiKeyRow,
  type EventRow,
  type MessageRow,
  type WorkspaceRow,
} from './sqlite-rows.js';
import * as templates from './sqlite-templates.js';
import * as batches from './sqlite-batches.js';
import * as suppressions from './sqlite-suppressions.js';
import * as feedback from './sqlite-feedback.js';
import type { FeedbackOutcome, FeedbackRecord } from '../store.js';
import type { SuppressionHit, SuppressionScope } from '../../core/suppression.js';
import type { Stream } from '../../core/types.js';
import type { NewSuppression, Suppression, SuppressionFilter, SuppressionWrite } from '../store.js';
import { insertEvent } from './sqlite-events.js';
import { signalsOf } from './sqlite-signals.js';
import * as eventLog from './sqlite-event-log.js';
import * as stats from './sqlite-stats.js';
import type { EventLogFilter, QueueDepth, RollupHour, RollupQuery } from '../store.js';
import * as webhooks from './sqlite-webhooks.js';
import * as webhookDispatch from './sqlite-webhook-dispatch.js';
import * as domains from './sqlite-domains.js';
import * as tracking from './sqlite-tracking.js';
import * as workspaces from './sqlite-workspaces.js';
import type { WorkspaceSettings, WorkspaceSettingsPatch } from '../../core/workspace-settings.js';
import type { FrequencyVerdict } from '../../core/frequency-cap.js';
import type { EngagementWrite, SendReservation } from '../store.js';
import type { DomainCheckUpdate, NewDomainKey, SendingDomain, SigningKeyRecord } from '../store.js';
import type {
  EventHead,
  EventHeadRange,
  NewWebhookDelivery,
  Webhook,
  WebhookAttemptRecord,
  WebhookClaim,
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookPatch,
} from '../store.js';

export interface SqliteStoreOptions {
  /** Path of the database file, or ':memory:'. */
  filename: string;
  /**
   * `full` (default) fsyncs every commit, so an accepted message survives power loss;
   * `normal` survives a crash of the process but not of the machine.
   */
  synchronous?: 'full' | 'normal';
}

const MESSAGE_COLUMNS = `id, workspace_id, content_id, batch_id, recipient, sender, status, stream, subject,
  message_id_header, tags, metadata, attempts, due_at, expires_at, last_reply, bounce_class, variables, sample, created_at, updated_at`;

function isUniqueError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_CONSTRAINT_UNIQUE');
}

export class SqliteStore implements Store {
  readonly backend = 'sqlite' as const;
  readonly #db: Database;
  readonly #statements = new Map<string, Statement>();
  readonly #fsyncEveryCommit: boolean;
  #acceptQueue: { submission: Submission; resolve: (outcome: AcceptOutcome) => void; reject: (error: unknown) => void }[] = [];

  constructor(options: SqliteStoreOptions) {
    const config = Object.freeze({ ...options });
    if (config.filename !== ':memory:') mkdirSync(dirname(config.filename), { recursive: true });
    this.#db = new BetterSqlite3(config.filename);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${config.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.#fsyncEveryCommit = config.synchronous !== 'normal';
    this.#db.pragma('busy_timeout = 5000');
    this.#db.pragma('foreign_keys = ON');
  }

  /**
   * Runs an engine bookkeeping transaction (claims, outcomes) without an fsync of its own. A
   * crash of the process loses nothing (WAL); a power cut may lose the last outcomes, and those
   * messages are sent again: at-least-once, never lost. Acceptance keeps its fsync, and that
   * fsync makes every earlier relaxed commit durable too.
   */
  #relaxed<T>(run: () => T): T {
    if (!this.#fsyncEveryCommit) return run();
    this.#db.pragma('synchronous = NORMAL');
    try {
      return run();
    } finally {
      this.#db.pragma('synchronous = FULL');
    }
  }

  /** Prepares a statement once and reuses it. */
  #sql(text: string): Statement {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.#db);
  }

  async ping(): Promise<void> {
    this.#sql('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  listen(topic: SignalTopic, listener: SignalListener): () => void {
    return signalsOf(this.#db).listeners.add(topic, listener);
  }

  async takeTokens(key: string, want: number, rate: BucketRate, now: number): Promise<number> {
    const take = this.#db.transaction(() => coordination.takeTokens(this.#db, key, want, rate, now));
    return this.#relaxed(() => take.immediate());
  }

  async createWorkspace(workspace: Workspace): Promise<void> {
    try {
      this.#sql('INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)').run(
        workspace.id,
        workspace.name,
        workspace.createdAt,
      );
    } catch (error) {
      if (isUniqueError(error)) throw new UniqueViolation('workspaces.name');
      throw error;
    }
  }

  async listWorkspaces(): Promise<Workspace[]> {
    return (this.#sql('SELECT * FROM workspaces ORDER BY created_at, id').all() as WorkspaceRow[]).map(toWorkspace);
  }

  async findWorkspace(idOrName: string): Promise<Workspace | null> {
    const row = this.#sql('SELECT * FROM workspaces WHERE id = ? OR name = ?').get(idOrName, idOrName) as
      | WorkspaceRow
      | undefined;
    return row ? toWorkspace(row) : null;
  }

  // Workspace settings: delegated to sqlite-workspaces.ts.
  async getWorkspaceSettings(workspaceId: string): Promise<WorkspaceSettings | null> {
    return workspaces.getWorkspaceSettings(this.#db, workspaceId);
  }

  async updateWorkspaceSettings(workspaceId: string, patch: WorkspaceSettingsPatch): Promise<WorkspaceSettings | null> {
    return this.#db.transaction(() => workspaces.updateWorkspaceSettings(this.#db, workspaceId, patch)).immediate();
  }

  async insertApiKey(key: ApiKeyRecord): Promise<void> {
    this.#sql(
      `INSERT INTO api_keys (id, workspace_id, name, scope, secret_hash, smtp_networks, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(key.id, key.workspaceId, key.name, key.scope, key.secretHash, JSON.stringify(key.smtpNetworks), key.createdAt, key.revokedAt);
  }

  async findApiKey(id: string): Promise<ApiKeyRecord | null> {
    const row = this.#sql('SELECT * FROM api_keys WHERE id = ?').get(id) as ApiKeyRow | undefined;
    return row ? toApiKeyRecord(row) : null;
  }

  async findApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | null> {
    const row = this.#sql('SELECT * FROM api_keys WHERE secret_hash = ?').get(secretHash) as ApiKeyRow | undefined;
    return row ? toApiKeyRecord(row) : null;
  }

  async listApiKeys(workspaceId?: string): Promise<ReturnType<typeof toApiKey>[]> {
    const rows = (
      workspaceId === undefined
        ? this.#sql('SELECT * FROM api_keys ORDER BY created_at, id').all()
        : this.#sql('SELECT * FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id').all(workspaceId)
    ) as ApiKeyRow[];
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    return this.#sql('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1;
  }

  async listSmtpNetworkKeys(): Promise<ApiKeyRecord[]> {
    const rows = this.#sql(
      "SELECT * FROM api_keys WHERE revoked_at IS NULL AND smtp_networks <> '[]' ORDER BY created_at, id",
    ).all() as ApiKeyRow[];
    return rows.map(toApiKeyRecord);
  }

  #insertEvent(event: NewEvent): void {
    insertEvent(this.#db, event);
  }

  #insertMessage(message: Message): void {
    this.#sql(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES
       (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      message.id, message.workspaceId, message.contentId, message.batchId, message.recipient, message.sender,
      message.status, message.stream, message.subject, message.messageIdHeader, JSON.stringify(message.tags),
      JSON.stringify(message.metadata), message.attempts, message.dueAt, message.expiresAt, message.lastReply,
      message.bounceClass, message.variables === null ? null : JSON.stringify(message.variables), message.sample ? 1 : 0,
      message.createdAt, message.updatedAt,
    );
    for (const tag of message.tags) {
      this.#sql('INSERT OR IGNORE INTO message_tags (message_id, workspace_id, tag) VALUES (?, ?, ?)').run(
        message.id,
        message.workspaceId,
        tag,
      );
    }
  }

  /** One submission's writes; runs inside the group commit, as a savepoint of its own. */
  #acceptOne(submission: Submission): AcceptOutcome {
    const idem = submission.idempotency;
    if (idem) {
      const prior = this.#sql(
        'SELECT request_hash, response, created_at FROM idempotency_keys WHERE workspace_id = ? AND key = ?',
      ).get(submission.workspaceId, idem.key) as { request_hash: string; response: string; created_at: string } | undefined;
      if (prior && prior.created_at >= idem.notBefore) {
        if (prior.request_hash !== idem.requestHash) return { kind: 'conflict' };
        return { kind: 'replayed', response: JSON.parse(prior.response) };
      }
      this.#sql(
        `INSERT INTO idempotency_keys (workspace_id, key, request_hash, response, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, key) DO UPDATE SET request_hash = excluded.request_hash,
           response = excluded.response, created_at = excluded.created_at`,
      ).run(submission.workspaceId, idem.key, idem.requestHash, JSON.stringify(idem.response), submission.now);
    }
    this.#sql('INSERT INTO contents (id, workspace_id, body, created_at) VALUES (?, ?, ?, ?)').run(
      submission.content.id,
      submission.workspaceId,
      JSON.stringify(submission.content.body),
      submission.now,
    );
    if (submission.batch) batches.insertBatchRecord(this.#db, submission.batch);
    for (const message of submission.messages) this.#insertMessage(message);
    for (const event of submission.events) this.#insertEvent(event);
    return { kind: 'accepted' };
  }

  /**
   * Group commit: submissions that arrive while the event loop is busy are written in one
   * transaction, so one fsync acknowledges all of them instead of one fsync each (with
   * synchronous=FULL the fsync, not the SQL, bounds intake). Each submission is a savepoint of
   * its own, so one that fails rolls back alone; none is answered before the commit.
   */
  accept(submission: Submission): Promise<AcceptOutcome> {
    return new Promise((resolve, reject) => {
      this.#acceptQueue.push({ submission, resolve, reject });
      if (this.#acceptQueue.length === 1) setImmediate(() => this.#commitAccepts());
    });
  }

  #commitAccepts(): void {
    const group = this.#acceptQueue;
    this.#acceptQueue = [];
    const one = this.#db.transaction((submission: Submission) => this.#acceptOne(submission));
    let results: ({ ok: AcceptOutcome } | { error: unknown })[];
    try {
      results = this.#db
        .transaction(() =>
          group.map((item) => {
            try {
              return { ok: one(item.submission) };
            } catch (error) {
              return { error };
            }
          }),
        )
        .immediate();
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    results.forEach((result, i) => {
      const item = group[i];
      if (!item) return;
      if ('ok' in result) item.resolve(result.ok);
      else item.reject(result.error);
    });
  }

  async getMessage(workspaceId: string, id: string): Promise<Message | null> {
    const row = this.#sql(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE workspace_id = ? AND id = ?`).get(workspaceId, id) as
      | MessageRow
      | undefined;
    return row ? toMessage(row) : null;
  }

  async listMessages(workspaceId: string, filter: MessageFilter): Promise<Message[]> {
    const where = ['m.workspace_id = @workspaceId'];
    let from = 'messages m';
    if (filter.tag !== undefined) {
      from = 'message_tags t JOIN messages m ON m.id = t.message_id';
      where.push('t.workspace_id = @workspaceId AND t.tag = @tag');
    }
    if (filter.status !== undefined) where.push('m.status = @status');
    if (filter.recipient !== undefined) where.push('m.recipient = @recipient');
    if (filter.since !== undefined) where.push('m.created_at >= @since');
    if (filter.until !== undefined) where.push('m.created_at < @until');
    if (filter.before !== undefined) where.push('m.id < @before');
    const sql = `SELECT ${MESSAGE_COLUMNS.replace(/(\w+)/g, 'm.$1')} FROM ${from}
      WHERE ${where.join(' AND ')} ORDER BY m.id DESC LIMIT @limit`;
    const rows = this.#sql(sql).all({ workspaceId, ...filter }) as MessageRow[];
    return rows.map(toMessage);
  }

  async listMessageEvents(workspaceId: string, messageId: string) {
    const rows = this.#sql('SELECT * FROM events WHERE message_id = ? AND workspace_id = ? ORDER BY seq').all(
      messageId,
      workspaceId,
    ) as EventRow[];
    return rows.map(toEvent);
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    const claim = this.#db.transaction((): ClaimedMessage[] => {
      const expired = this.#sql(
        "SELECT id FROM messages WHERE status = 'sending' AND lease_until < ? ORDER BY lease_until LIMIT ?",
      ).pluck().all(request.now, request.limit) as string[];
      // The transactional lane first: mail outside batches is never stuck behind a broadcast.
      const ids = [
        ...expired,
        ...(this.#sql(
          "SELECT id FROM messages WHERE status IN ('queued', 'deferred') AND batch_id IS NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
        ).pluck().all(request.now, Math.max(0, request.limit - expired.length)) as string[]),
      ];
      for (const lane of request.batches ?? []) {
        if (lane.limit <= 0) continue;
        const sql = lane.sampleOnly
          ? "SELECT id FROM messages WHERE batch_id = ? AND status IN ('queued', 'deferred') AND due_at <= ? AND sample = 1 ORDER BY due_at LIMIT ?"
          : "SELECT id FROM messages WHERE batch_id = ? AND status IN ('queued', 'deferred') AND due_at <= ? ORDER BY due_at LIMIT ?";
        ids.push(...(this.#sql(sql).pluck().all(lane.batchId, request.now, lane.limit) as string[]));
      }
      if (ids.length === 0) return [];
      const rows = this.#sql(
        `UPDATE messages SET status = 'sending', lease_owner = ?, lease_until = ?, updated_at = ?
         WHERE id IN (SELECT value FROM json_each(?)) RETURNING ${MESSAGE_COLUMNS}`,
      ).all(request.owner, request.leaseUntil, request.now, JSON.stringify(ids)) as MessageRow[];
      // RETURNING's order is arbitrary in SQLite; the engine's queue takes the claim order (lanes in turn).
      const position = new Map(ids.map((id, i) => [id, i]));
      rows.sort((a, b) => (position.get(a.id) ?? 0) - (position.get(b.id) ?? 0));
      const contentIds = [...new Set(rows.map((row) => row.content_id))];
      const contents = new Map<string, Content>();
      for (const content of this.#sql('SELECT id, body FROM contents WHERE id IN (SELECT value FROM json_each(?))').all(
        JSON.stringify(contentIds),
      ) as { id: string; body: string }[]) {
        contents.set(content.id, JSON.parse(content.body) as Content);
      }
      return rows.map((row) => ({ ...toMessage(row), content: contents.get(row.content_id) as Content }));
    });
    return this.#relaxed(() => claim.immediate());
  }

  async recordAttempts(records: AttemptRecord[]): Promise<number> {
    const record = this.#db.transaction((): number => {
      let held = 0;
      for (const r of records) {
        const changes = this.#sql(
          `UPDATE messages SET status = ?, attempts = ?, due_at = ?, last_reply = ?, bounce_class = ?,
             expires_at = coalesce(?, expires_at), lease_owner = NULL, lease_until = NULL, updated_at = ?
           WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
        ).run(r.status, r.attempts, r.dueAt, r.lastReply, r.bounceClass, r.expiresAt ?? null, r.now, r.messageId, r.owner).changes;
        if (changes !== 1) continue;
        held += 1;
        if (r.event) this.#insertEvent(r.event);
        if (r.bounce !== undefined) feedback.recordAttemptBounce(this.#db, r.messageId, r.bounce, r.now);
        if (r.captured !== undefined) {
          this.#sql('INSERT OR REPLACE INTO outbox (message_id, workspace_id, raw, captured_at) VALUES (?, ?, ?, ?)').run(
            r.messageId,
            r.workspaceId,
            r.captured,
            r.now,
          );
        }
      }
      return held;
    });
    return this.#relaxed(() => record.immediate());
  }

  async releaseLeases(owner: string, now: string): Promise<number> {
    return this.#sql(
      "UPDATE messages SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE lease_owner = ? AND status = 'sending'",
    ).run(now, owner).changes;
  }

  async nextDueAt(): Promise<string | null> {
    // Batch lanes are polled (their batch's state decides, not only due times): only mail outside
    // batches counts here, so a paused batch with due messages does not keep the engine spinning.
    const due = this.#sql("SELECT min(due_at) FROM messages WHERE status IN ('queued', 'deferred') AND batch_id IS NULL").pluck().get() as
      | string
      | null;
    const lease = this.#sql("SELECT min(lease_until) FROM messages WHERE status = 'sending'").pluck().get() as string | null;
    if (due === null) return lease;
    if (lease === null) return due;
    return due < lease ? due : lease;
  }

  async listOutbox(workspaceId: string, options: { before?: string; limit: number }): Promise<OutboxEntry[]> {
    const rows = this.#sql(
      `SELECT o.message_id, m.recipient, m.subject, length(CAST(o.raw AS BLOB)) AS size, o.captured_at
       FROM outbox o JOIN messages m ON m.id = o.message_id
       WHERE o.workspace_id = @workspaceId AND (@before IS NULL OR o.message_id < @before)
       ORDER BY o.message_id DESC LIMIT @limit`,
    ).all({ workspaceId, before: options.before ?? null, limit: options.limit }) as {
      message_id: string;
      recipient: string;
      subject: string;
      size: number;
      captured_at: string;
    }[];
    return rows.map((row) => ({
      messageId: row.message_id,
      recipient: row.recipient,
      subject: row.subject,
      size: row.size,
      capturedAt: row.captured_at,
    }));
  }

  async getOutboxRaw(workspaceId: string, messageId: string): Promise<string | null> {
    const raw = this.#sql('SELECT raw FROM outbox WHERE workspace_id = ? AND message_id = ?').pluck().get(workspaceId, messageId) as
      | string
      | undefined;
    return raw ?? null;
  }

  async pruneIdempotency(before: string): Promise<number> {
    return this.#sql('DELETE FROM idempotency_keys WHERE created_at < ?').run(before).changes;
  }

  // ---- Templates: delegated to sqlite-templates.ts --------------------------------------------
  async createTemplate(template: Template, first: TemplateVersion): Promise<void> {
    templates.createTemplate(this.#db, template, first);
  }

  async reviseTemplate(revision: TemplateRevision): Promise<Template | null> {
    return templates.reviseTemplate(this.#db, revision);
  }

  async findTemplate(workspaceId: string, id: string): Promise<Template | null> {
    return templates.findTemplate(this.#db, workspaceId, id);
  }

  async listTemplates(workspaceId: string, options: { before?: string; limit: number }): Promise<TemplateSummary[]> {
    return templates.listTemplates(this.#db, workspaceId, options);
  }

  async getTemplateVersion(workspaceId: string, templateId: string, version: number): Promise<TemplateVersion | null> {
    return templates.getTemplateVersion(this.#db, workspaceId, templateId, version);
  }

  async listTemplateVersions(
    workspaceId: string,
    templateId: string,
    options: { before?: number; limit: number },
  ): Promise<TemplateVersionSummary[]> {
    return templates.listTemplateVersions(this.#db, workspaceId, templateId, options);
  }

  async deleteTemplate(workspaceId: string, id: string, at: string): Promise<boolean> {
    return templates.deleteTemplate(this.#db, workspaceId, id, at);
  }
  // ---- end of templates ---------------------------------------------------------------------

  // ---- Suppressions: delegated to sqlite-suppressions.ts ---------------------------------------
  async addSuppressions(entries: NewSuppression[]): Promise<SuppressionWrite[]> {
    return this.#db.transaction(() => suppressions.addSuppressions(this.#db, entries)).immediate();
  }
  async removeSuppression(workspaceId: string, email: string, scope?: SuppressionScope): Promise<number> {
    return suppressions.removeSuppression(this.#db, workspaceId, email, scope);
  }
  async listSuppressions(workspaceId: string, filter: SuppressionFilter): Promise<Suppression[]> {
    return suppressions.listSuppressions(this.#db, workspaceId, filter);
  }
  async findSuppressed(workspaceId: string, stream: Stream, emails: string[]): Promise<Map<string, SuppressionHit>> {
    return suppressions.findSuppressed(this.#db, workspaceId, stream, emails);
  }
  // ---- end of suppressions --------------------------------------------------------------------

  // ---- Feedback: delegated to sqlite-feedback.ts ------------------------------------------------
  async findMessageById(id: string): Promise<Message | null> {
    return feedback.findMessageById(this.#db, id);
  }
  async findMessageToRecipient(workspaceId: string, recipient: string, options: { messageIdHeader?: string; statuses: readonly MessageStatus[] }): Promise<Message | null> {
    return feedback.findMessageToRecipient(this.#db, workspaceId, recipient, options);
  }
  async recordFeedback(record: FeedbackRecord): Promise<FeedbackOutcome> {
    return this.#db.transaction(() => feedback.recordFeedback(this.#db, record)).immediate();
  }
  // ---- end of feedback ------------------------------------------------------------------------

  // ---- Batches: delegated to sqlite-batches.ts ------------------------------------------------
  async createBatch(batch: BatchRecord, content: Content): Promise<void> {
    this.#db.transaction(() => batches.createBatch(this.#db, batch, content)).immediate();
  }
  async insertBatchRows(batchId: string, messages: Message[], rows: number[], rejections: BatchRejection[]): Promise<{ duplicates: number[] }> {
    const now = new Date().toISOString();
    return this.#db.transaction(() => batches.insertBatchRows(this.#db, batchId, messages, rows, rejections, now)).immediate();
  }
  async finalizeBatch(update: Parameters<Store['finalizeBatch']>[0]): Promise<{ kind: 'ok' } | { kind: 'taken'; batch: BatchRecord }> {
    return this.#db.transaction(() => batches.finalizeBatch(this.#db, update, update.audit.workspaceId)).immediate();
  }
  async deleteBatch(batchId: string): Promise<void> {
    this.#db.transaction(() => batches.deleteBatch(this.#db, batchId)).immediate();
  }
  async getBatch(workspaceId: string, id: string): Promise<BatchRecord | null> {
    return batches.getBatch(this.#db, workspaceId, id);
  }
  async findBatchByIdempotencyKey(workspaceId: string, key: string): Promise<BatchRecord | null> {
    return batches.findBatchByIdempotencyKey(this.#db, workspaceId, key);
  }
  async releaseBatchIdempotency(workspaceId: string, key: string, before: string): Promise<void> {
    batches.releaseBatchIdempotency(this.#db, workspaceId, key, before);
  }
  async listBatches(workspaceId: string, options: { before?: string; limit: number }): Promise<BatchRecord[]> {
    return batches.listBatches(this.#db, workspaceId, options);
  }
  async listActiveBatches(): Promise<BatchRecord[]> {
    return batches.listActiveBatches(this.#db);
  }
  async listStaleBatches(before: string): Promise<string[]> {
    return batches.listStaleBatches(this.#db, before);
  }
  async countBatchMessages(batchId: string, options: { sampleOnly?: boolean } = {}): Promise<BatchStatusCounts> {
    return batches.countBatchMessages(this.#db, batchId, options.sampleOnly ?? false);
  }
  async transitionBatch(change: Parameters<Store['transitionBatch']>[0]): Promise<boolean> {
    return this.#db.transaction(() => batches.transitionBatch(this.#db, change)).immediate();
  }
  async getContent(contentId: string): Promise<Content | null> {
    return batches.getContent(this.#db, contentId);
  }
  async updateBatchContent(batchId: string, content: Content, options: Record<string, unknown>, now: string, audit: AuditEntry): Promise<void> {
    this.#db.transaction(() => batches.updateBatchContent(this.#db, batchId, content, options, now, audit)).immediate();
  }
  async claimProgress(batchId: string, digest: string, notBefore: string, now: string, event: NewEvent): Promise<boolean> {
    return this.#db.transaction(() => batches.claimProgress(this.#db, batchId, digest, notBefore, now, event)).immediate();
  }
  async listBatchRejections(batchId: string, options: { after?: number; limit: number }): Promise<(BatchRejection & { seq: number })[]> {
    return batches.listBatchRejections(this.#db, batchId, options);
  }
  async listBatchMessages(batchId: string, options: { status?: MessageStatus; after?: string; limit: number }): Promise<Message[]> {
    return batches.listBatchMessages(this.#db, batchId, options);
  }
  async listBatchEvents(batchId: string, options: { after: number; limit: number }): Promise<MessageEvent[]> {
    return batches.listBatchEvents(this.#db, batchId, options);
  }
  async countBatchEvents(batchId: string, type: string): Promise<number> {
    return batches.countBatchEvents(this.#db, batchId, type);
  }
  async latestBatchEvent(batchId: string, type: string): Promise<MessageEvent | null> {
    return batches.latestBatchEvent(this.#db, batchId, type);
  }
  async listAudit(workspaceId: string, options: { before?: number; limit: number }): Promise<(AuditEntry & { seq: number })[]> {
    return batches.listAudit(this.#db, workspaceId, options);
  }
  // ---- end of batches -------------------------------------------------------------------------

  // ---- Events out: delegated to sqlite-event-log.ts and sqlite-stats.ts ---------------------
  async listEvents(workspaceId: string, filter: EventLogFilter): Promise<MessageEvent[]> {
    return eventLog.listEvents(this.#db, workspaceId, filter);
  }
  async latestEventSeq(workspaceId: string): Promise<number> {
    return eventLog.latestEventSeq(this.#db, workspaceId);
  }
  async sumRollups(workspaceId: string, query: RollupQuery): Promise<RollupHour[]> {
    return stats.sumRollups(this.#db, workspaceId, query);
  }
  async countQueue(): Promise<QueueDepth> {
    return stats.countQueue(this.#db);
  }
  // ---- end of events out ----------------------------------------------------------------------

  // ---- Webhooks: delegated to sqlite-webhooks.ts and sqlite-webhook-dispatch.ts ----------------
  async createWebhook(webhook: Webhook): Promise<void> {
    webhooks.createWebhook(this.#db, webhook);
  }
  async findWebhook(workspaceId: string, id: string): Promise<Webhook | null> {
    return webhooks.findWebhook(this.#db, workspaceId, id);
  }
  async listWebhooks(workspaceId: string, options: { before?: string; limit: number }): Promise<Webhook[]> {
    return webhooks.listWebhooks(this.#db, workspaceId, options);
  }
  async updateWebhook(workspaceId: string, id: string, patch: WebhookPatch, now: string): Promise<Webhook | null> {
    return webhooks.updateWebhook(this.#db, workspaceId, id, patch, now);
  }
  async rotateWebhookSecret(workspaceId: string, id: string, secret: string, previousExpiresAt: string, now: string): Promise<Webhook | null> {
    return webhooks.rotateWebhookSecret(this.#db, workspaceId, id, secret, previousExpiresAt, now);
  }
  async deleteWebhook(workspaceId: string, id: string): Promise<boolean> {
    return webhooks.deleteWebhook(this.#db, workspaceId, id);
  }
  async listEnabledWebhooks(): Promise<Webhook[]> {
    return webhooks.listEnabledWebhooks(this.#db);
  }
  async listEventHeads(workspaceId: string, range: EventHeadRange, limit: number): Promise<EventHead[]> {
    return webhookDispatch.listEventHeads(this.#db, workspaceId, range, limit);
  }
  async getEventsByIds(workspaceId: string, ids: string[]): Promise<MessageEvent[]> {
    return webhookDispatch.getEventsByIds(this.#db, workspaceId, ids);
  }
  // Dispatcher bookkeeping is relaxed like the engine's: a lost record means a delivery is sent again.
  async advanceWebhookCursor(webhookId: string, from: number, to: number, deliveries: NewWebhookDelivery[]): Promise<boolean> {
    const advance = this.#db.transaction(() => webhookDispatch.advanceWebhookCursor(this.#db, webhookId, from, to, deliveries));
    return this.#relaxed(() => advance.immediate());
  }
  async insertWebhookDeliveries(deliveries: NewWebhookDelivery[]): Promise<void> {
    this.#db.transaction(() => webhookDispatch.insertWebhookDeliveries(this.#db, deliveries)).immediate();
  }
  async claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]> {
    const take = this.#db.transaction(() => webhookDispatch.claimWebhookDeliveries(this.#db, claim));
    return this.#relaxed(() => take.immediate());
  }
  async recordWebhookAttempt(record: WebhookAttemptRecord): Promise<{ failingSince: string | null } | null> {
    const write = this.#db.transaction(() => webhookDispatch.recordWebhookAttempt(this.#db, record));
    return this.#relaxed(() => write.immediate());
  }
  async disableWebhook(webhookId: string, reason: string, event: NewEvent, now: string): Promise<boolean> {
    return this.#db.transaction(() => webhookDispatch.disableWebhook(this.#db, webhookId, reason, event, now)).immediate();
  }
  async releaseWebhookLeases(owner: string, deliveryIds: string[]): Promise<number> {
    return webhookDispatch.releaseWebhookLeases(this.#db, owner, deliveryIds);
  }
  async countWebhookBacklog(): Promise<number> {
    return webhookDispatch.countWebhookBacklog(this.#db);
  }
  async listWebhookDeliveries(
    workspaceId: string,
    webhookId: string,
    options: { status?: WebhookDeliveryStatus; before?: string; limit: number },
  ): Promise<WebhookDelivery[]> {
    return webhooks.listWebhookDeliveries(this.#db, workspaceId, webhookId, options);
  }
  // ---- end of webhooks ------------------------------------------------------------------------
  // ---- Tracking and frequency caps: delegated to sqlite-tracking.ts --------------------------
  async recordEngagement(write: EngagementWrite): Promise<Set<string>> {
    return this.#db.transaction(() => tracking.recordEngagement(this.#db, write)).immediate();
  }
  async reserveSends(reservation: SendReservation): Promise<Map<string, FrequencyVerdict>> {
    const reserve = this.#db.transaction(() => tracking.reserveSends(this.#db, reservation));
    return this.#relaxed(() => reserve.immediate());
  }
  async pruneSendLedger(before: string): Promise<number> {
    return tracking.pruneSendLedger(this.#db, before);
  }
  // ---- end of tracking and frequency caps -----------------------------------------------------

  // ---- Sending domains: delegated to sqlite-domains.ts -------------------------------------------
  async createDomain(domain: Omit<SendingDomain, 'keys'>, key: NewDomainKey): Promise<void> {
    this.#db.transaction(() => domains.createDomain(this.#db, domain, key)).immediate();
  }
  async findDomain(workspaceId: string, id: string): Promise<SendingDomain | null> {
    return domains.findDomain(this.#db, workspaceId, id);
  }
  async findDomainByName(workspaceId: string, name: string): Promise<SendingDomain | null> {
    return domains.findDomainByName(this.#db, workspaceId, name);
  }
  async listDomains(workspaceId: string, options: { before?: string; limit: number }): Promise<SendingDomain[]> {
    return domains.listDomains(this.#db, workspaceId, options);
  }
  async recordDomainCheck(workspaceId: string, id: string, update: DomainCheckUpdate): Promise<SendingDomain | null> {
    return this.#db.transaction(() => domains.recordDomainCheck(this.#db, workspaceId, id, update)).immediate();
  }
  async addDomainKey(key: NewDomainKey): Promise<void> {
    this.#db.transaction(() => domains.addDomainKey(this.#db, key)).immediate();
  }
  async activateDomainKey(workspaceId: string, domainId: string, keyId: string, now: string): Promise<boolean> {
    return this.#db.transaction(() => domains.activateDomainKey(this.#db, workspaceId, domainId, keyId, now)).immediate();
  }
  async removePendingDomainKey(workspaceId: string, domainId: string, keyId: string): Promise<boolean> {
    return domains.removePendingDomainKey(this.#db, workspaceId, domainId, keyId);
  }
  async deleteDomain(workspaceId: string, id: string): Promise<boolean> {
    return domains.deleteDomain(this.#db, workspaceId, id);
  }
  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return domains.listSigningKeys(this.#db);
  }
  async signingKeysVersion(): Promise<string> {
    return domains.signingKeysVersion(this.#db);
  }
  // ---- end of sending domains -------------------------------------------------------------------
}
