/**
 * The scale-out store: PostgreSQL through a `pg` pool. Any number of Herald processes share one
 * database; workers claim due messages with `FOR UPDATE SKIP LOCKED` and a lease, so two workers
 * never hold the same message and a dead worker's chunk returns when its lease runs out.
 * Bulk writes go as one statement over arrays (`unnest`), one transaction per unit of work.
 */
import type { BucketRate } from '../../core/token-bucket.js';
import type { SignalListener, SignalTopic } from '../signals.js';
import * as coordination from './postgres-coordination.js';
import { PostgresSignals } from './postgres-signals.js';
import pg from 'pg';
import type { MessageStatus } from '../../core/message-state.js';
import type { Content, Message, MessageEvent, Workspace } from '../../core/types.js';
import {
  UniqueViolation,
  type AuditEntry,
  type BatchRecord,
  type BatchRejection,
  type BatchStatusCounts,
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
import * as batches from './postgres-batches.js';
import { insertEvents } from './postgres-events.js';
import { migratePostgres } from './postgres-migrations.js';
import {
  MESSAGE_ARRAY_TYPES,
  MESSAGE_COLUMNS,
  messageArrays,
  toApiKey,
  toApiKeyRecord,
  toEvent,
  toMessage,
  toWorkspace,
  type ApiKeyRow,
  type EventRow,
  type MessageRow,
  type WorkspaceRow,
} from './postgres-rows.js';
import * as templates from './postgres-templates.js';
import * as suppressions from './postgres-suppressions.js';
import * as feedback from './postgres-feedback.js';
import type { FeedbackOutcome, FeedbackRecord } from '../store.js';
import type { SuppressionHit, SuppressionScope } from '../../core/suppression.js';
import type { Stream } from '../../core/types.js';
import type { NewSuppression, Suppression, SuppressionFilter, SuppressionWrite } from '../store.js';
import * as eventLog from './postgres-event-log.js';
import * as stats from './postgres-stats.js';
import type { EventLogFilter, QueueDepth, RollupHour, RollupQuery } from '../store.js';
import * as webhooks from './postgres-webhooks.js';
import * as webhookDispatch from './postgres-webhook-dispatch.js';
import * as domains from './postgres-domains.js';
import * as tracking from './postgres-tracking.js';
import * as workspaces from './postgres-workspaces.js';
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

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema to work in (tests use one per file); default: the server's search_path. */
  schema?: string;
  /** Connections in the pool. */
  poolSize?: number;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

interface PendingAccept {
  submission: Submission;
  resolve: (outcome: AcceptOutcome) => void;
  reject: (error: unknown) => void;
}

/** The most submissions committed together in one group. */
const ACCEPT_GROUP_MAX = 256;

function isUniqueError(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === '23505';
}

export class PostgresStore implements Store {
  readonly backend = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #signals: PostgresSignals;
  #acceptQueue: PendingAccept[] = [];
  #accepting = false;

  constructor(options: PostgresStoreOptions) {
    const config = Object.freeze({ ...options });
    this.#pool = new pg.Pool({
      connectionString: config.connectionString,
      max: config.poolSize ?? 10,
      // A database that does not answer at all (network partition) fails fast with 503 instead
      // of holding requests for minutes; keep-alive notices a dead peer on open connections.
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(config.schema ? { options: `-c search_path=${config.schema}` } : {}),
    });
    // An idle client losing its connection (database restart) must not crash the process.
    this.#pool.on('error', () => undefined);
    this.#signals = new PostgresSignals({
      connectionString: config.connectionString,
      ...(config.schema ? { options: `-c search_path=${config.schema}` } : {}),
    });
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    // A connection lost while checked out (database restart) emits 'error' on the client; without
    // a listener that would crash the process. The failing query rejects on its own.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken ??= await client.query('ROLLBACK').then(
        () => undefined,
        (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
      );
      throw error;
    } finally {
      client.off('error', onError);
      // A broken connection is destroyed, not handed to the next caller.
      client.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await migratePostgres(this.#pool);
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.#signals.close();
    await this.#pool.end();
  }

  listen(topic: SignalTopic, listener: SignalListener): () => void {
    return this.#signals.listen(topic, listener);
  }

  async takeTokens(key: string, want: number, rate: BucketRate, now: number): Promise<number> {
    return this.#transaction((client) => coordination.takeTokens(client, key, want, rate, now));
  }

  async createWorkspace(workspace: Workspace): Promise<void> {
    try {
      await this.#pool.query('INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)', [workspace.id, workspace.name, workspace.createdAt]);
    } catch (error) {
      if (isUniqueError(error)) throw new UniqueViolation('workspaces.name');
      throw error;
    }
  }

  async listWorkspaces(): Promise<Workspace[]> {
    const { rows } = await this.#pool.query<WorkspaceRow>('SELECT * FROM workspaces ORDER BY created_at, id');
    return rows.map(toWorkspace);
  }

  async findWorkspace(idOrName: string): Promise<Workspace | null> {
    const { rows } = await this.#pool.query<WorkspaceRow>('SELECT * FROM workspaces WHERE id = $1 OR name = $1', [idOrName]);
    return rows[0] ? toWorkspace(rows[0]) : null;
  }

  // Workspace settings: delegated to postgres-workspaces.ts.
  async getWorkspaceSettings(workspaceId: string): Promise<WorkspaceSettings | null> {
    return workspaces.getWorkspaceSettings(this.#pool, workspaceId);
  }

  async updateWorkspaceSettings(workspaceId: string, patch: WorkspaceSettingsPatch): Promise<WorkspaceSettings | null> {
    return workspaces.updateWorkspaceSettings(this.#pool, workspaceId, patch);
  }

  async insertApiKey(key: ApiKeyRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO api_keys (id, workspace_id, name, scope, secret_hash, smtp_networks, created_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [key.id, key.workspaceId, key.name, key.scope, key.secretHash, JSON.stringify(key.smtpNetworks), key.createdAt, key.revokedAt],
    );
  }

  async findApiKey(id: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] ? toApiKeyRecord(rows[0]) : null;
  }

  async findApiKeyBySecretHash(secretHash: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE secret_hash = $1', [secretHash]);
    return rows[0] ? toApiKeyRecord(rows[0]) : null;
  }

  async listApiKeys(workspaceId?: string) {
    const { rows } =
      workspaceId === undefined
        ? await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id')
        : await this.#pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id', [workspaceId]);
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    const result = await this.#pool.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return result.rowCount === 1;
  }

  async listSmtpNetworkKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#pool.query<ApiKeyRow>(
      "SELECT * FROM api_keys WHERE revoked_at IS NULL AND smtp_networks <> '[]'::jsonb ORDER BY created_at, id",
    );
    return rows.map(toApiKeyRecord);
  }

  async #insertMessages(client: Queryable, messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    await client.query(
      `INSERT INTO messages (${MESSAGE_COLUMNS})
       SELECT * FROM unnest(${MESSAGE_ARRAY_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`,
      messageArrays(messages),
    );
  }

  /**
   * Group commit: submissions that arrive while a group is being committed wait and go together in
   * the next transaction, each under its own savepoint (one that fails, e.g. on a duplicate key,
   * does not take the others with it), their events appended once at the end. One commit (and
   * one hold of the event-order lock) acknowledges many requests instead of one each.
   */
  accept(submission: Submission): Promise<AcceptOutcome> {
    return new Promise((resolve, reject) => {
      this.#acceptQueue.push({ submission, resolve, reject });
      if (!this.#accepting) void this.#drainAccepts();
    });
  }

  async #drainAccepts(): Promise<void> {
    this.#accepting = true;
    try {
      while (this.#acceptQueue.length > 0) await this.#commitAccepts(this.#acceptQueue.splice(0, ACCEPT_GROUP_MAX));
    } finally {
      this.#accepting = false;
    }
  }

  async #commitAccepts(group: PendingAccept[]): Promise<void> {
    const outcomes = new Map<PendingAccept, { ok: AcceptOutcome } | { error: unknown }>();
    // Plain submissions (no idempotency key, no batch record) cannot conflict with anything: all
    // of them go in three statements. The others each get a savepoint of their own.
    const plain = group.filter((item) => !item.submission.idempotency && !item.submission.batch);
    const special = group.filter((item) => item.submission.idempotency !== undefined || item.submission.batch !== undefined);
    try {
      await this.#transaction(async (client) => {
        const events: NewEvent[] = [];
        if (plain.length > 0) {
          await client.query('SAVEPOINT accept_plain');
          try {
            await client.query(
              `INSERT INTO contents (id, workspace_id, body, created_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[])`,
              [
                plain.map((item) => item.submission.content.id),
                plain.map((item) => item.submission.workspaceId),
                plain.map((item) => JSON.stringify(item.submission.content.body)),
                plain.map((item) => item.submission.now),
              ],
            );
            await this.#insertMessages(client, plain.flatMap((item) => item.submission.messages));
            await client.query('RELEASE SAVEPOINT accept_plain');
            for (const item of plain) {
              outcomes.set(item, { ok: { kind: 'accepted' } });
              events.push(...item.submission.events);
            }
          } catch {
            // One of them is bad (e.g. text PostgreSQL cannot store): take them one by one, so
            // only that one fails and its neighbours are accepted.
            await client.query('ROLLBACK TO SAVEPOINT accept_plain');
            special.unshift(...plain);
          }
        }
        for (const item of special) {
          await client.query('SAVEPOINT accept_one');
          try {
            const outcome = await this.#acceptOne(client, item.submission);
            await client.query('RELEASE SAVEPOINT accept_one');
            outcomes.set(item, { ok: outcome });
            if (outcome.kind === 'accepted') events.push(...item.submission.events);
          } catch (error) {
            await client.query('ROLLBACK TO SAVEPOINT accept_one');
            outcomes.set(item, { error });
          }
        }
        await insertEvents(client, events);
      });
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    for (const item of group) {
      const outcome = outcomes.get(item);
      if (outcome && 'ok' in outcome) item.resolve(outcome.ok);
      else item.reject(outcome?.error);
    }
  }

  async #acceptOne(client: pg.PoolClient, submission: Submission): Promise<AcceptOutcome> {
    const idem = submission.idempotency;
    if (idem) {
      // Takes the key's row lock: a concurrent request with the same key waits here, then sees our row.
      const inserted = await client.query(
        `INSERT INTO idempotency_keys (workspace_id, key, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
           created_at = excluded.created_at
         WHERE idempotency_keys.created_at < $6
         RETURNING 1`,
        [submission.workspaceId, idem.key, idem.requestHash, JSON.stringify(idem.response), submission.now, idem.notBefore],
      );
      if (inserted.rowCount === 0) {
        const { rows } = await client.query<{ request_hash: string; response: { status: number; body: unknown } }>(
          'SELECT request_hash, response FROM idempotency_keys WHERE workspace_id = $1 AND key = $2',
          [submission.workspaceId, idem.key],
        );
        const prior = rows[0];
        if (prior && prior.request_hash !== idem.requestHash) return { kind: 'conflict' };
        if (prior) return { kind: 'replayed', response: prior.response };
      }
    }
    await client.query('INSERT INTO contents (id, workspace_id, body, created_at) VALUES ($1, $2, $3, $4)', [
      submission.content.id,
      submission.workspaceId,
      JSON.stringify(submission.content.body),
      submission.now,
    ]);
    if (submission.batch) await batches.insertBatchRecord(client, submission.batch);
    await this.#insertMessages(client, submission.messages);
    return { kind: 'accepted' };
  }

  async getMessage(workspaceId: string, id: string): Promise<Message | null> {
    const { rows } = await this.#pool.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND id = $2`, [workspaceId, id]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async listMessages(workspaceId: string, filter: MessageFilter): Promise<Message[]> {
    const params: unknown[] = [workspaceId];
    const where = ['workspace_id = $1'];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (filter.tag !== undefined) add('tags @> ?::jsonb', JSON.stringify([filter.tag]));
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.recipient !== undefined) add('recipient = ?', filter.recipient);
    if (filter.since !== undefined) add('created_at >= ?', filter.since);
    if (filter.until !== undefined) add('created_at < ?', filter.until);
    if (filter.before !== undefined) add('id < ?', filter.before);
    params.push(filter.limit);
    const { rows } = await this.#pool.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toMessage);
  }

  async listMessageEvents(workspaceId: string, messageId: string) {
    const { rows } = await this.#pool.query<EventRow>('SELECT * FROM events WHERE message_id = $1 AND workspace_id = $2 ORDER BY seq', [
      messageId,
      workspaceId,
    ]);
    return rows.map(toEvent);
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    const params: unknown[] = [request.now, request.limit, request.owner, request.leaseUntil];
    // One CTE per batch lane, each with its own limit; a lane's batch_id selects messages_batch_due.
    const lanes = (request.batches ?? []).filter((lane) => lane.limit > 0).map((lane, i) => {
      params.push(lane.batchId, lane.limit);
      return `, lane_${i} AS (
           SELECT id, ${i + 2} AS lane, due_at AS at FROM messages
           WHERE batch_id = $${params.length - 1} AND status IN ('queued', 'deferred') AND due_at <= $1${lane.sampleOnly ? ' AND sample = 1' : ''}
           ORDER BY due_at LIMIT $${params.length} FOR UPDATE SKIP LOCKED
         )`;
    });
    return this.#transaction(async (client) => {
      const { rows } = await client.query<MessageRow>(
        // Locking clauses are not allowed on a UNION, so each source locks in its own CTE. Expired
        // leases first, then the transactional lane (mail outside batches is never stuck behind a
        // broadcast), then the batch lanes; the result keeps that order for the engine's queue.
        `WITH expired AS (
           SELECT id, 0 AS lane, lease_until AS at FROM messages WHERE status = 'sending' AND lease_until < $1
           ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED
         ), due AS (
           SELECT id, 1 AS lane, due_at AS at FROM messages WHERE status IN ('queued', 'deferred') AND batch_id IS NULL AND due_at <= $1
           ORDER BY due_at LIMIT greatest(0, $2 - (SELECT count(*) FROM expired)) FOR UPDATE SKIP LOCKED
         )${lanes.join('')}, chosen AS (
           SELECT * FROM expired UNION ALL SELECT * FROM due${lanes.map((_, i) => ` UNION ALL SELECT * FROM lane_${i}`).join('')}
         ), claimed AS (
           UPDATE messages m SET status = 'sending', lease_owner = $3, lease_until = $4, updated_at = $1
           FROM chosen WHERE m.id = chosen.id
           RETURNING ${MESSAGE_COLUMNS.split(',').map((c) => `m.${c.trim()}`).join(', ')}, chosen.lane, chosen.at
         )
         SELECT ${MESSAGE_COLUMNS} FROM claimed ORDER BY lane, at`,
        params,
      );
      if (rows.length === 0) return [];
      const contentIds = [...new Set(rows.map((row) => row.content_id))];
      const contents = await client.query<{ id: string; body: Content }>('SELECT id, body FROM contents WHERE id = ANY($1::text[])', [contentIds]);
      const byId = new Map(contents.rows.map((row) => [row.id, row.body]));
      return rows.map((row) => ({ ...toMessage(row), content: byId.get(row.content_id) as Content }));
    });
  }

  async recordAttempts(records: AttemptRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    // Bounces in SMTP replies are rare: a chunk without one runs the same statements as before.
    const bounces = records.filter((r) => r.bounce !== undefined);
    return this.#transaction(async (client) => {
      // Soft-bounce count locks come first, as in recordFeedback (see postgres-feedback.ts).
      await feedback.lockSoftBounceCounts(
        client,
        bounces.flatMap((r) => (r.bounce?.bounceClass === 'soft' ? [{ workspaceId: r.workspaceId, recipient: r.bounce.recipient }] : [])),
      );
      const { rows } = await client.query<{ id: string }>(
        `UPDATE messages m SET status = r.status, attempts = r.attempts, due_at = r.due_at, last_reply = r.last_reply,
           bounce_class = r.bounce_class, expires_at = coalesce(r.expires_at, m.expires_at), lease_owner = NULL, lease_until = NULL,
           updated_at = r.now
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[], $8::timestamptz[],
           $9::timestamptz[]) AS r(id, owner, status, attempts, due_at, last_reply, bounce_class, now, expires_at)
         WHERE m.id = r.id AND m.lease_owner = r.owner AND m.status = 'sending'
         RETURNING m.id`,
        [
          records.map((r) => r.messageId),
          records.map((r) => r.owner),
          records.map((r) => r.status),
          records.map((r) => r.attempts),
          records.map((r) => r.dueAt),
          records.map((r) => r.lastReply),
          records.map((r) => r.bounceClass),
          records.map((r) => r.now),
          records.map((r) => r.expiresAt ?? null),
        ],
      );
      const held = new Set(rows.map((row) => row.id));
      const kept = records.filter((r) => held.has(r.messageId));
      await insertEvents(client, kept.flatMap((r) => (r.event ? [r.event] : [])));
      for (const r of bounces) if (r.bounce !== undefined && held.has(r.messageId)) await feedback.recordAttemptBounce(client, r.messageId, r.bounce, r.now);
      const captured = kept.filter((r) => r.captured !== undefined);
      if (captured.length > 0) {
        await client.query(
          `INSERT INTO outbox (message_id, workspace_id, raw, captured_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (message_id) DO UPDATE SET raw = excluded.raw, captured_at = excluded.captured_at`,
          [captured.map((r) => r.messageId), captured.map((r) => r.workspaceId), captured.map((r) => r.captured), captured.map((r) => r.now)],
        );
      }
      return held.size;
    });
  }

  async releaseLeases(owner: string, now: string): Promise<number> {
    const result = await this.#pool.query(
      "UPDATE messages SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE lease_owner = $1 AND status = 'sending'",
      [owner, now],
    );
    return result.rowCount ?? 0;
  }

  async nextDueAt(): Promise<string | null> {
    const { rows } = await this.#pool.query<{ at: Date | null }>(
      // Batch lanes are polled; only mail outside batches counts (see the SQLite adapter).
      `SELECT least((SELECT min(due_at) FROM messages WHERE status IN ('queued', 'deferred') AND batch_id IS NULL),
                    (SELECT min(lease_until) FROM messages WHERE status = 'sending')) AS at`,
    );
    const at = rows[0]?.at ?? null;
    return at === null ? null : at.toISOString();
  }

  async listOutbox(workspaceId: string, options: { before?: string; limit: number }): Promise<OutboxEntry[]> {
    const { rows } = await this.#pool.query<{ message_id: string; recipient: string; subject: string; size: number; captured_at: Date }>(
      `SELECT o.message_id, m.recipient, m.subject, octet_length(o.raw) AS size, o.captured_at
       FROM outbox o JOIN messages m ON m.id = o.message_id
       WHERE o.workspace_id = $1 AND ($2::text IS NULL OR o.message_id < $2)
       ORDER BY o.message_id DESC LIMIT $3`,
      [workspaceId, options.before ?? null, options.limit],
    );
    return rows.map((row) => ({
      messageId: row.message_id,
      recipient: row.recipient,
      subject: row.subject,
      size: Number(row.size),
      capturedAt: row.captured_at.toISOString(),
    }));
  }

  async getOutboxRaw(workspaceId: string, messageId: string): Promise<string | null> {
    const { rows } = await this.#pool.query<{ raw: string }>('SELECT raw FROM outbox WHERE workspace_id = $1 AND message_id = $2', [workspaceId, messageId]);
    return rows[0]?.raw ?? null;
  }

  async pruneIdempotency(before: string): Promise<number> {
    const result = await this.#pool.query('DELETE FROM idempotency_keys WHERE created_at < $1', [before]);
    return result.rowCount ?? 0;
  }

  // ---- Templates: delegated to postgres-templates.ts --------------------------------------------
  async createTemplate(template: Template, first: TemplateVersion): Promise<void> {
    await templates.createTemplate(this.#pool, template, first);
  }

  async reviseTemplate(revision: TemplateRevision): Promise<Template | null> {
    return templates.reviseTemplate(this.#pool, revision);
  }

  async findTemplate(workspaceId: string, id: string): Promise<Template | null> {
    return templates.findTemplate(this.#pool, workspaceId, id);
  }

  async listTemplates(workspaceId: string, options: { before?: string; limit: number }): Promise<TemplateSummary[]> {
    return templates.listTemplates(this.#pool, workspaceId, options);
  }

  async getTemplateVersion(workspaceId: string, templateId: string, version: number): Promise<TemplateVersion | null> {
    return templates.getTemplateVersion(this.#pool, workspaceId, templateId, version);
  }

  async listTemplateVersions(
    workspaceId: string,
    templateId: string,
    options: { before?: number; limit: number },
  ): Promise<TemplateVersionSummary[]> {
    return templates.listTemplateVersions(this.#pool, workspaceId, templateId, options);
  }

  async deleteTemplate(workspaceId: string, id: string, at: string): Promise<boolean> {
    return templates.deleteTemplate(this.#pool, workspaceId, id, at);
  }
  // ---- end of templates ---------------------------------------------------------------------

  // ---- Suppressions: delegated to postgres-suppressions.ts; each write is one transaction -------
  async addSuppressions(entries: NewSuppression[]): Promise<SuppressionWrite[]> {
    if (entries.length === 0) return [];
    return this.#transaction((client) => suppressions.addSuppressions(client, entries));
  }
  async removeSuppression(workspaceId: string, email: string, scope?: SuppressionScope): Promise<number> {
    return suppressions.removeSuppression(this.#pool, workspaceId, email, scope);
  }
  async listSuppressions(workspaceId: string, filter: SuppressionFilter): Promise<Suppression[]> {
    return suppressions.listSuppressions(this.#pool, workspaceId, filter);
  }
  async findSuppressed(workspaceId: string, stream: Stream, emails: string[]): Promise<Map<string, SuppressionHit>> {
    return suppressions.findSuppressed(this.#pool, workspaceId, stream, emails);
  }

  // ---- Feedback: delegated to postgres-feedback.ts; recording is one transaction --------------
  async findMessageById(id: string): Promise<Message | null> {
    return feedback.findMessageById(this.#pool, id);
  }
  async findMessageToRecipient(workspaceId: string, recipient: string, options: { messageIdHeader?: string; statuses: readonly MessageStatus[] }): Promise<Message | null> {
    return feedback.findMessageToRecipient(this.#pool, workspaceId, recipient, options);
  }
  async recordFeedback(record: FeedbackRecord): Promise<FeedbackOutcome> {
    return this.#transaction((client) => feedback.recordFeedback(client, record));
  }
  // ---- end of feedback ------------------------------------------------------------------------
  // ---- end of suppressions --------------------------------------------------------------------

  // ---- Batches: delegated to postgres-batches.ts; each write is one transaction ----------------
  async createBatch(batch: BatchRecord, content: Content): Promise<void> {
    await this.#transaction((client) => batches.createBatch(client, batch, content));
  }
  async insertBatchRows(batchId: string, messages: Message[], rows: number[], rejections: BatchRejection[]): Promise<{ duplicates: number[] }> {
    const now = new Date().toISOString();
    return this.#transaction((client) => batches.insertBatchRows(client, batchId, messages, rows, rejections, now));
  }
  async finalizeBatch(update: Parameters<Store['finalizeBatch']>[0]): Promise<{ kind: 'ok' } | { kind: 'taken'; batch: BatchRecord }> {
    return this.#transaction((client) => batches.finalizeBatch(client, update, update.audit.workspaceId));
  }
  async deleteBatch(batchId: string): Promise<void> {
    await this.#transaction((client) => batches.deleteBatch(client, batchId));
  }
  async getBatch(workspaceId: string, id: string): Promise<BatchRecord | null> {
    return batches.getBatch(this.#pool, workspaceId, id);
  }
  async findBatchByIdempotencyKey(workspaceId: string, key: string): Promise<BatchRecord | null> {
    return batches.findBatchByIdempotencyKey(this.#pool, workspaceId, key);
  }
  async releaseBatchIdempotency(workspaceId: string, key: string, before: string): Promise<void> {
    await batches.releaseBatchIdempotency(this.#pool, workspaceId, key, before);
  }
  async listBatches(workspaceId: string, options: { before?: string; limit: number }): Promise<BatchRecord[]> {
    return batches.listBatches(this.#pool, workspaceId, options);
  }
  async listActiveBatches(): Promise<BatchRecord[]> {
    return batches.listActiveBatches(this.#pool);
  }
  async listStaleBatches(before: string): Promise<string[]> {
    return batches.listStaleBatches(this.#pool, before);
  }
  async countBatchMessages(batchId: string, options: { sampleOnly?: boolean } = {}): Promise<BatchStatusCounts> {
    return batches.countBatchMessages(this.#pool, batchId, options.sampleOnly ?? false);
  }
  async transitionBatch(change: Parameters<Store['transitionBatch']>[0]): Promise<boolean> {
    return this.#transaction((client) => batches.transitionBatch(client, change));
  }
  async getContent(contentId: string): Promise<Content | null> {
    return batches.getContent(this.#pool, contentId);
  }
  async updateBatchContent(batchId: string, content: Content, options: Record<string, unknown>, now: string, audit: AuditEntry): Promise<void> {
    await this.#transaction((client) => batches.updateBatchContent(client, batchId, content, options, now, audit));
  }
  async claimProgress(batchId: string, digest: string, notBefore: string, now: string, event: NewEvent): Promise<boolean> {
    return this.#transaction((client) => batches.claimProgress(client, batchId, digest, notBefore, now, event));
  }
  async listBatchRejections(batchId: string, options: { after?: number; limit: number }): Promise<(BatchRejection & { seq: number })[]> {
    return batches.listBatchRejections(this.#pool, batchId, options);
  }
  async listBatchMessages(batchId: string, options: { status?: MessageStatus; after?: string; limit: number }): Promise<Message[]> {
    return batches.listBatchMessages(this.#pool, batchId, options);
  }
  async listBatchEvents(batchId: string, options: { after: number; limit: number }): Promise<MessageEvent[]> {
    return batches.listBatchEvents(this.#pool, batchId, options);
  }
  async countBatchEvents(batchId: string, type: string): Promise<number> {
    return batches.countBatchEvents(this.#pool, batchId, type);
  }
  async latestBatchEvent(batchId: string, type: string): Promise<MessageEvent | null> {
    return batches.latestBatchEvent(this.#pool, batchId, type);
  }
  async listAudit(workspaceId: string, options: { before?: number; limit: number }): Promise<(AuditEntry & { seq: number })[]> {
    return batches.listAudit(this.#pool, workspaceId, options);
  }
  // ---- end of batches -------------------------------------------------------------------------

  // ---- Events out: delegated to postgres-event-log.ts and postgres-stats.ts ---------------------
  async listEvents(workspaceId: string, filter: EventLogFilter): Promise<MessageEvent[]> {
    return eventLog.listEvents(this.#pool, workspaceId, filter);
  }
  async latestEventSeq(workspaceId: string): Promise<number> {
    return eventLog.latestEventSeq(this.#pool, workspaceId);
  }
  async sumRollups(workspaceId: string, query: RollupQuery): Promise<RollupHour[]> {
    return stats.sumRollups(this.#pool, workspaceId, query);
  }
  async countQueue(): Promise<QueueDepth> {
    return stats.countQueue(this.#pool);
  }
  // ---- end of events out ----------------------------------------------------------------------

  // ---- Webhooks: delegated to postgres-webhooks.ts and postgres-webhook-dispatch.ts -------------
  async createWebhook(webhook: Webhook): Promise<void> {
    await webhooks.createWebhook(this.#pool, webhook);
  }
  async findWebhook(workspaceId: string, id: string): Promise<Webhook | null> {
    return webhooks.findWebhook(this.#pool, workspaceId, id);
  }
  async listWebhooks(workspaceId: string, options: { before?: string; limit: number }): Promise<Webhook[]> {
    return webhooks.listWebhooks(this.#pool, workspaceId, options);
  }
  async updateWebhook(workspaceId: string, id: string, patch: WebhookPatch, now: string): Promise<Webhook | null> {
    return webhooks.updateWebhook(this.#pool, workspaceId, id, patch, now);
  }
  async rotateWebhookSecret(workspaceId: string, id: string, secret: string, previousExpiresAt: string, now: string): Promise<Webhook | null> {
    return webhooks.rotateWebhookSecret(this.#pool, workspaceId, id, secret, previousExpiresAt, now);
  }
  async deleteWebhook(workspaceId: string, id: string): Promise<boolean> {
    return webhooks.deleteWebhook(this.#pool, workspaceId, id);
  }
  async listEnabledWebhooks(): Promise<Webhook[]> {
    return webhooks.listEnabledWebhooks(this.#pool);
  }
  async listEventHeads(workspaceId: string, range: EventHeadRange, limit: number): Promise<EventHead[]> {
    return webhookDispatch.listEventHeads(this.#pool, workspaceId, range, limit);
  }
  async getEventsByIds(workspaceId: string, ids: string[]): Promise<MessageEvent[]> {
    return webhookDispatch.getEventsByIds(this.#pool, workspaceId, ids);
  }
  async advanceWebhookCursor(webhookId: string, from: number, to: number, deliveries: NewWebhookDelivery[]): Promise<boolean> {
    return this.#transaction((client) => webhookDispatch.advanceWebhookCursor(client, webhookId, from, to, deliveries));
  }
  async insertWebhookDeliveries(deliveries: NewWebhookDelivery[]): Promise<void> {
    await webhookDispatch.insertWebhookDeliveries(this.#pool, deliveries);
  }
  async claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]> {
    return webhookDispatch.claimWebhookDeliveries(this.#pool, claim);
  }
  async recordWebhookAttempt(record: WebhookAttemptRecord): Promise<{ failingSince: string | null } | null> {
    return this.#transaction((client) => webhookDispatch.recordWebhookAttempt(client, record));
  }
  async disableWebhook(webhookId: string, reason: string, event: NewEvent, now: string): Promise<boolean> {
    return this.#transaction((client) => webhookDispatch.disableWebhook(client, webhookId, reason, event, now));
  }
  async releaseWebhookLeases(owner: string, deliveryIds: string[]): Promise<number> {
    return webhookDispatch.releaseWebhookLeases(this.#pool, owner, deliveryIds);
  }
  async countWebhookBacklog(): Promise<number> {
    return webhookDispatch.countWebhookBacklog(this.#pool);
  }
  async listWebhookDeliveries(
    workspaceId: string,
    webhookId: string,
    options: { status?: WebhookDeliveryStatus; before?: string; limit: number },
  ): Promise<WebhookDelivery[]> {
    return webhooks.listWebhookDeliveries(this.#pool, workspaceId, webhookId, options);
  }
  // ---- end of webhooks ------------------------------------------------------------------------
  // ---- Tracking and frequency caps: delegated to postgres-tracking.ts ------------------------
  async recordEngagement(write: EngagementWrite): Promise<Set<string>> {
    return this.#transaction((client) => tracking.recordEngagement(client, write));
  }
  async reserveSends(reservation: SendReservation): Promise<Map<string, FrequencyVerdict>> {
    return this.#transaction((client) => tracking.reserveSends(client, reservation));
  }
  async pruneSendLedger(before: string): Promise<number> {
    return tracking.pruneSendLedger(this.#pool, before);
  }
  // ---- end of tracking and frequency caps -----------------------------------------------------

  // ---- Sending domains: delegated to postgres-domains.ts; each write is one transaction ------------
  async createDomain(domain: Omit<SendingDomain, 'keys'>, key: NewDomainKey): Promise<void> {
    await this.#transaction((client) => domains.createDomain(client, domain, key));
  }
  async findDomain(workspaceId: string, id: string): Promise<SendingDomain | null> {
    return domains.findDomain(this.#pool, workspaceId, id);
  }
  async findDomainByName(workspaceId: string, name: string): Promise<SendingDomain | null> {
    return domains.findDomainByName(this.#pool, workspaceId, name);
  }
  async listDomains(workspaceId: string, options: { before?: string; limit: number }): Promise<SendingDomain[]> {
    return domains.listDomains(this.#pool, workspaceId, options);
  }
  async recordDomainCheck(workspaceId: string, id: string, update: DomainCheckUpdate): Promise<SendingDomain | null> {
    return this.#transaction((client) => domains.recordDomainCheck(client, workspaceId, id, update));
  }
  async addDomainKey(key: NewDomainKey): Promise<void> {
    await this.#transaction((client) => domains.addDomainKey(client, key));
  }
  async activateDomainKey(workspaceId: string, domainId: string, keyId: string, now: string): Promise<boolean> {
    return this.#transaction((client) => domains.activateDomainKey(client, workspaceId, domainId, keyId, now));
  }
  async removePendingDomainKey(workspaceId: string, domainId: string, keyId: string): Promise<boolean> {
    return domains.removePendingDomainKey(this.#pool, workspaceId, domainId, keyId);
  }
  async deleteDomain(workspaceId: string, id: string): Promise<boolean> {
    return domains.deleteDomain(this.#pool, workspaceId, id);
  }
  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return domains.listSigningKeys(this.#pool);
  }
  async signingKeysVersion(): Promise<string> {
    return domains.signingKeysVersion(this.#pool);
  }
  // ---- end of sending domains -------------------------------------------------------------------
}
