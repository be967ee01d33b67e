/**
 * The batch part of the Store port, as a contract every adapter keeps: driven directly through
 * the `Store` interface on each backend, against a fresh database per test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchStatus } from '../../src/core/batch-state.js';
import type { Content, Message } from '../../src/core/types.js';
import type { AttemptRecord, AuditEntry, BatchRecord, BatchRejection, NewEvent, Store } from '../../src/store/store.js';
import { backends, createTestContext, type TestContext } from '../helpers/harness.js';

const TEMPLATE: Content = {
  kind: 'template', from: { email: 'news@example.com' }, replyTo: [], subject: 'Hello {{name}}', text: 'Hi {{name}}',
  headers: {}, templateId: null, templateVersion: null, revision: 1,
};

for (const backend of backends()) {
  describe(`store batches (${backend})`, () => {
    let ctx: TestContext;
    let store: Store;
    let ws: string;
    let started: number;
    /** An ISO time `seconds` from the start of the test. */
    const at = (seconds: number) => new Date(started + seconds * 1000).toISOString();
    const id = (kind: 'batch' | 'message' | 'event' | 'content') => ctx.deps.ids.next(kind);

    beforeEach(async () => {
      ctx = await createTestContext({ backend });
      store = ctx.store;
      ws = ctx.admin.workspaceId;
      started = Date.now();
    });
    afterEach(async () => {
      await ctx.close();
    });

    // ---- factories ----------------------------------------------------------------------------
    function batchRecord(overrides: Partial<BatchRecord> = {}): BatchRecord {
      return {
        id: id('batch'), workspaceId: ws, status: 'validating', contentId: id('content'), stream: 'broadcast', options: { tags: ['news'] },
        total: 0, rejected: 0, sampleSize: 0, sendAt: null, statusReason: null, idempotencyKey: null, requestHash: null, keyId: ctx.adminKeyId,
        progressAt: null, progressDigest: null, canaryDoneAt: null, createdAt: at(0), updatedAt: at(0), completedAt: null, ...overrides,
      };
    }
    function message(batch: BatchRecord | null, recipient: string, overrides: Partial<Message> = {}): Message {
      const messageId = id('message');
      return {
        id: messageId, workspaceId: ws, contentId: batch?.contentId ?? 'unset', batchId: batch?.id ?? null, recipient, sender: 'news@example.com',
        status: 'queued', stream: batch ? 'broadcast' : 'transactional', subject: `Hello ${recipient}`, messageIdHeader: `<${messageId}@example.com>`,
        tags: ['news'], metadata: {}, attempts: 0, dueAt: at(-60), expiresAt: at(3600), lastReply: null, bounceClass: null,
        variables: batch ? { name: recipient.split('@')[0] } : null, sample: false, createdAt: at(0), updatedAt: at(0), ...overrides,
      };
    }
    function event(batchId: string, type: string, messageId: string | null = null, createdAt = at(0)): NewEvent {
      return { id: id('event'), workspaceId: ws, type, messageId, batchId, recipient: null, data: { type }, createdAt };
    }
    function audit(action: string, resource: string): AuditEntry {
      return { id: id('event'), workspaceId: ws, keyId: ctx.adminKeyId, action, resource, detail: { action }, createdAt: at(0) };
    }
    function finalize(batch: BatchRecord, status: BatchStatus, counts: { total: number; sample?: number }, key: string | null = null) {
      return store.finalizeBatch({
        batchId: batch.id, status, total: counts.total, rejected: 0, sampleSize: counts.sample ?? 0, idempotencyKey: key,
        requestHash: key === null ? null : `hash-of-${batch.id}`, now: at(1), event: event(batch.id, 'batch.created'), audit: audit('batch.create', batch.id),
      });
    }
    /** A batch still validating, with one message per recipient (`*` marks the canary sample), due one after another. */
    async function uploadBatch(recipients: string[]) {
      const batch = batchRecord();
      await store.createBatch(batch, TEMPLATE);
      const messages = recipients.map((r, i) => message(batch, r.replace('*', ''), { sample: r.endsWith('*'), dueAt: at(-100 + i) }));
      await store.insertBatchRows(batch.id, messages, messages.map((_, i) => i + 2), []);
      return { batch, messages };
    }
    async function seedBatch(recipients: string[], status: BatchStatus = 'sending') {
      const uploaded = await uploadBatch(recipients);
      expect(await finalize(uploaded.batch, status, { total: recipients.length })).toEqual({ kind: 'ok' });
      return uploaded;
    }
    function attempt(m: Message, owner: string, status: Message['status'], extra: Partial<AttemptRecord> = {}): AttemptRecord {
      return {
        messageId: m.id, owner, status, attempts: 1, dueAt: at(600), lastReply: '250 ok', bounceClass: null,
        event: { ...event(m.batchId ?? '', `message.${status}`, m.id), recipient: m.recipient }, workspaceId: ws, now: at(2), ...extra,
      };
    }
    const claim = (owner: string, limit: number, lanes: { batchId: string; limit: number; sampleOnly: boolean }[], now = at(0)) =>
      store.claimDue({ now, limit, owner, leaseUntil: new Date(Date.parse(now) + 30_000).toISOString(), batches: lanes });
    const lane = (batch: BatchRecord, limit = 100, sampleOnly = false) => ({ batchId: batch.id, limit, sampleOnly });

    it('takes rows in chunks, returns duplicates and records them as rejections in row order', async () => {
      const batch = batchRecord({ sendAt: at(300), options: { stream: 'broadcast', tags: ['news'] } });
      await store.createBatch(batch, TEMPLATE);
      expect(await store.getBatch(ws, batch.id)).toEqual(batch);
      expect(await store.getContent(batch.contentId)).toEqual(TEMPLATE);
      expect(await store.getBatch('ws_elsewhere', batch.id)).toBeNull();

      const first = ['a', 'b', 'c', 'a', 'd'].map((r) => message(batch, `${r}@example.com`));
      const firstRejects: BatchRejection[] = [{ row: 4, email: 'bad', reason: 'invalid_address', detail: 'not an address' }];
      expect(await store.insertBatchRows(batch.id, first, [2, 3, 5, 6, 7], firstRejects)).toEqual({ duplicates: [6] });
      const second = ['e', 'b', 'f'].map((r) => message(batch, `${r}@example.com`));
      const secondRejects: BatchRejection[] = [
        { row: 12, email: 'g@example.com', reason: 'invalid_row', detail: 'too many columns' },
        { row: 9, email: 'h@example.com', reason: 'suppressed', detail: 'hard bounce' },
      ];
      expect(await store.insertBatchRows(batch.id, second, [8, 10, 11], secondRejects)).toEqual({ duplicates: [10] });

      const rejections = await store.listBatchRejections(batch.id, { limit: 10 });
      expect(rejections.map((r) => [r.seq, r.row, r.reason])).toEqual([
        [1, 4, 'invalid_address'], [2, 6, 'duplicate'], [3, 9, 'suppressed'], [4, 10, 'duplicate'], [5, 12, 'invalid_row'],
      ]);
      expect(rejections[1]).toMatchObject({ email: 'a@example.com', detail: 'the address appears earlier in this batch' });
      expect((await store.listBatchRejections(batch.id, { after: 2, limit: 2 })).map((r) => r.seq)).toEqual([3, 4]);
      const kept = await store.listBatchMessages(batch.id, { limit: 10 });
      expect(kept.map((m) => m.recipient)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((r) => `${r}@example.com`));
      expect(kept[0]).toEqual(first[0]);
    });

    it('takes a chunk of 5,000 messages in one call', async () => {
      const batch = batchRecord();
      await store.createBatch(batch, TEMPLATE);
      const messages = Array.from({ length: 5000 }, (_, i) => message(batch, `r${i % 4900}@example.com`, { sample: i % 10 === 0 }));
      const rows = messages.map((_, i) => i + 2);
      const { duplicates } = await store.insertBatchRows(batch.id, messages, rows, []);
      expect(duplicates).toEqual(rows.slice(4900));
      expect(await store.countBatchMessages(batch.id)).toEqual({ queued: 4900 });
      expect(await store.countBatchMessages(batch.id, { sampleOnly: true })).toEqual({ queued: 490 });
      expect((await store.listBatchRejections(batch.id, { limit: 200 })).map((r) => r.row)).toEqual(rows.slice(4900));
    });

    it('finalizes with counts and an idempotency key, which a second batch cannot take until it is released', async () => {
      const { batch } = await uploadBatch(['a@example.com']);
      const updated = await store.finalizeBatch({
        batchId: batch.id, status: 'scheduled', total: 1, rejected: 2, sampleSize: 1, idempotencyKey: 'key-1', requestHash: 'hash-1',
        now: at(5), event: event(batch.id, 'batch.created'), audit: audit('batch.create', batch.id),
      });
      expect(updated).toEqual({ kind: 'ok' });
      const done = await store.getBatch(ws, batch.id);
      expect(done).toMatchObject({ status: 'scheduled', total: 1, rejected: 2, sampleSize: 1, idempotencyKey: 'key-1', requestHash: 'hash-1', updatedAt: at(5), completedAt: null });
      expect(await store.findBatchByIdempotencyKey(ws, 'key-1')).toEqual(done);

      const rival = batchRecord();
      await store.createBatch(rival, TEMPLATE);
      expect(await finalize(rival, 'scheduled', { total: 0 }, 'key-1')).toEqual({ kind: 'taken', batch: done });
      expect(await store.getBatch(ws, rival.id)).toMatchObject({ status: 'validating', idempotencyKey: null });
      expect(await store.listBatchEvents(rival.id, { after: 0, limit: 10 })).toEqual([]);

      await store.releaseBatchIdempotency(ws, 'key-1', batch.createdAt);
      expect(await store.findBatchByIdempotencyKey(ws, 'key-1')).not.toBeNull();
      await store.releaseBatchIdempotency(ws, 'key-1', at(1));
      expect(await store.findBatchByIdempotencyKey(ws, 'key-1')).toBeNull();
      expect(await finalize(rival, 'completed', { total: 0 }, 'key-1')).toEqual({ kind: 'ok' });
      expect(await store.getBatch(ws, rival.id)).toMatchObject({ status: 'completed', idempotencyKey: 'key-1', completedAt: at(1) });
    });

    it('gives an idempotency key to one of several batches finalizing at once; the others learn which', async () => {
      const rivals = await Promise.all([1, 2, 3, 4].map(() => uploadBatch(['a@example.com'])));
      const outcomes = await Promise.all(rivals.map(({ batch }) => finalize(batch, 'scheduled', { total: 1 }, 'key-race')));
      const winners = rivals.filter((_, i) => outcomes[i]?.kind === 'ok').map(({ batch }) => batch.id);
      expect(winners).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.kind === 'taken') expect(outcome.batch).toMatchObject({ id: winners[0], idempotencyKey: 'key-race', status: 'scheduled' });
      }
      expect((await store.listBatches(ws, { limit: 10 })).map((b) => b.id)).toEqual(winners);
    });

    it('lists finalized batches newest first, active batches and stale uploads', async () => {
      const { batch: older } = await seedBatch(['a@example.com'], 'scheduled');
      const { batch: newer } = await seedBatch(['a@example.com'], 'completed');
      const uploading = batchRecord();
      await store.createBatch(uploading, TEMPLATE);
      await store.insertBatchRows(uploading.id, [message(uploading, 'a@example.com')], [2], []);
      const abandoned = batchRecord({ createdAt: at(-3600), updatedAt: at(-3600) });
      await store.createBatch(abandoned, TEMPLATE);

      expect((await store.listBatches(ws, { limit: 10 })).map((b) => b.id)).toEqual([newer.id, older.id]);
      expect((await store.listBatches(ws, { before: newer.id, limit: 10 })).map((b) => b.id)).toEqual([older.id]);
      expect((await store.listBatches(ws, { limit: 1 })).map((b) => b.id)).toEqual([newer.id]);
      expect((await store.listActiveBatches()).map((b) => b.id)).toEqual([older.id]);
      // Inserting rows is the upload's heartbeat: only the batch that never got any is stale.
      expect(await store.listStaleBatches(at(-60))).toEqual([abandoned.id]);
    });

    it('claims expired leases, then the transactional lane, then each batch lane with its own limit', async () => {
      const body: Content = { kind: 'structured', from: { email: 'app@example.com' }, to: [], cc: [], replyTo: [], subject: 'Receipt', text: 'Thanks', headers: {}, attachments: [] };
      const contentId = id('content');
      const transactional = ['t1@example.com', 't2@example.com'].map((r, i) => message(null, r, { contentId, dueAt: at(-50 + i) }));
      expect(await store.accept({ workspaceId: ws, content: { id: contentId, body }, messages: transactional, events: [], now: at(0) })).toEqual({ kind: 'accepted' });
      const canary = await seedBatch(['a@example.com*', 'b@example.com', 'c@example.com*', 'd@example.com'], 'canary');
      const sending = await seedBatch(['e@example.com', 'f@example.com', 'g@example.com']);
      const later = message(sending.batch, 'h@example.com', { dueAt: at(600) });
      await store.insertBatchRows(sending.batch.id, [later], [9], []);
      const paused = await seedBatch(['i@example.com'], 'paused');

      expect(await store.countBatchMessages(canary.batch.id, { sampleOnly: true })).toEqual({ queued: 2 });
      // The transactional lane's limit is the request's.
      expect((await claim('w0', 1, [], at(-10))).map((m) => m.recipient)).toEqual(['t1@example.com']);
      const claimed = await claim('w1', 10, [lane(canary.batch, 10, true), lane(sending.batch, 2)]);
      expect(claimed.map((m) => m.recipient)).toEqual(['t2', 'a', 'c', 'e', 'f'].map((r) => `${r}@example.com`));
      expect(claimed.every((m) => m.status === 'sending')).toBe(true);
      expect(claimed[0]?.content).toEqual(body);
      expect(claimed[1]?.content).toEqual(TEMPLATE);
      expect(claimed[1]).toMatchObject({ sample: true, variables: { name: 'a' }, batchId: canary.batch.id });
      expect(await store.countBatchMessages(paused.batch.id)).toEqual({ queued: 1 });
      expect(await store.countBatchMessages(canary.batch.id)).toEqual({ queued: 2, sending: 2 });
      expect(await claim('w1', 10, [lane(canary.batch, 10, true)])).toEqual([]);

      // w0's lease ran out at 20 s: expired leases come first and count against the transactional limit.
      const reclaimed = await claim('w2', 1, [lane(sending.batch, 1)], at(25));
      expect(reclaimed.map((m) => m.recipient)).toEqual(['t1@example.com', 'g@example.com']);
      expect(await store.recordAttempts([attempt(transactional[0] as Message, 'w0', 'sent')])).toBe(0);
      expect(await store.recordAttempts([attempt(transactional[0] as Message, 'w2', 'sent')])).toBe(1);
    });

    it('records attempts, moving the expiry only when one is given', async () => {
      const { batch, messages } = await seedBatch(['a@example.com', 'b@example.com', 'c@example.com']);
      const [a, b, c] = messages as [Message, Message, Message];
      await claim('w1', 0, [lane(batch)]);
      const held = await store.recordAttempts([
        attempt(a, 'w1', 'sent', { expiresAt: at(7200) }),
        attempt(b, 'w1', 'deferred', { lastReply: '451 later', bounceClass: 'soft' }),
        attempt(c, 'w2', 'sent'),
      ]);
      expect(held).toBe(2);
      expect(await store.getMessage(ws, a.id)).toMatchObject({ status: 'sent', attempts: 1, expiresAt: at(7200), lastReply: '250 ok' });
      expect(await store.getMessage(ws, b.id)).toMatchObject({ status: 'deferred', dueAt: at(600), expiresAt: b.expiresAt, bounceClass: 'soft' });
      expect(await store.getMessage(ws, c.id)).toMatchObject({ status: 'sending', expiresAt: c.expiresAt });
      expect(await store.countBatchMessages(batch.id)).toEqual({ sent: 1, deferred: 1, sending: 1 });
      expect(await store.countBatchEvents(batch.id, 'message.sent')).toBe(1);
      expect(await store.countBatchEvents(batch.id, 'message.deferred')).toBe(1);
    });

    it('transitions only from the given states, with its event and audit entry', async () => {
      const { batch, messages } = await seedBatch(['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com'], 'scheduled');
      const change = (from: BatchStatus[], to: BatchStatus, now: string, extra: { cancelMessages?: boolean; canaryDone?: boolean } = {}) =>
        store.transitionBatch({ batchId: batch.id, from, to, reason: `to ${to}`, now, event: event(batch.id, `batch.${to}`), audit: audit(`batch.${to}`, batch.id), ...extra });

      expect(await change(['canary'], 'paused', at(2))).toBe(false);
      expect(await store.getBatch(ws, batch.id)).toMatchObject({ status: 'scheduled', updatedAt: at(1) });
      expect(await change(['scheduled', 'paused'], 'canary', at(2))).toBe(true);
      expect(await change(['canary'], 'awaiting_approval', at(3), { canaryDone: true })).toBe(true);
      expect(await store.getBatch(ws, batch.id)).toMatchObject({ status: 'awaiting_approval', statusReason: 'to awaiting_approval', canaryDoneAt: at(3), completedAt: null });
      expect(await change(['awaiting_approval'], 'sending', at(4))).toBe(true);

      await claim('w1', 0, [lane(batch, 2)]);
      const [a, b] = messages as [Message, Message];
      await store.recordAttempts([attempt(a, 'w1', 'sent'), attempt(b, 'w1', 'deferred')]);
      expect(await change(['sending', 'paused'], 'cancelled', at(5), { cancelMessages: true })).toBe(true);
      expect(await store.getBatch(ws, batch.id)).toMatchObject({ status: 'cancelled', updatedAt: at(5), completedAt: at(5), canaryDoneAt: at(3) });
      expect(await store.countBatchMessages(batch.id)).toEqual({ sent: 1, cancelled: 3 });
      expect(await change(['sending'], 'completed', at(6))).toBe(false);

      const own = await store.listBatchEvents(batch.id, { after: 0, limit: 10 });
      expect(own.map((e) => e.type)).toEqual(['batch.created', 'batch.canary', 'batch.awaiting_approval', 'batch.sending', 'batch.cancelled']);
      expect((await store.listAudit(ws, { limit: 2 })).map((e) => e.action)).toEqual(['batch.cancelled', 'batch.sending']);

      const other = await seedBatch(['x@example.com']);
      expect(await store.transitionBatch({ batchId: other.batch.id, from: ['sending'], to: 'completed', reason: null, now: at(7), event: null, audit: null })).toBe(true);
      expect(await store.getBatch(ws, other.batch.id)).toMatchObject({ status: 'completed', statusReason: null, completedAt: at(7), canaryDoneAt: null });
    });

    it('points the batch at new content, which the next claim carries', async () => {
      const { batch } = await seedBatch(['a@example.com', 'b@example.com'], 'paused');
      const revised: Content = { ...TEMPLATE, subject: 'Hi again {{name}}', templateVersion: 2, revision: 2 };
      await store.updateBatchContent(batch.id, revised, { template: 'v2' }, at(3), audit('batch.update', batch.id));
      expect(await store.getBatch(ws, batch.id)).toMatchObject({ options: { template: 'v2' }, updatedAt: at(3), contentId: batch.contentId });
      expect(await store.getContent(batch.contentId)).toEqual(revised);
      const claimed = await claim('w1', 0, [lane(batch)]);
      expect(claimed.map((m) => m.content)).toEqual([revised, revised]);
      expect((await store.listAudit(ws, { limit: 1 }))[0]).toMatchObject({ action: 'batch.update', resource: batch.id, detail: { action: 'batch.update' } });
    });

    it('claims a progress report once per interval and only when the digest changed', async () => {
      const { batch } = await seedBatch(['a@example.com']);
      const report = (digest: string, notBefore: string, now: string) => {
        const e = event(batch.id, 'batch.progress', null, now);
        return store.claimProgress(batch.id, digest, notBefore, now, e).then((claimed) => ({ claimed, e }));
      };
      const first = await report('d1', at(0), at(10));
      expect(first.claimed).toBe(true);
      expect((await report('d1', at(20), at(20))).claimed).toBe(false);
      expect((await report('d2', at(5), at(15))).claimed).toBe(false);
      const second = await report('d2', at(10), at(25));
      expect(second.claimed).toBe(true);
      expect(await store.getBatch(ws, batch.id)).toMatchObject({ progressAt: at(25), progressDigest: 'd2' });
      const progress = (await store.listBatchEvents(batch.id, { after: 0, limit: 10 })).filter((e) => e.type === 'batch.progress');
      expect(progress.map((e) => e.id)).toEqual([first.e.id, second.e.id]);
      expect((await store.latestBatchEvent(batch.id, 'batch.progress'))?.id).toBe(second.e.id);
      expect(await store.latestBatchEvent(batch.id, 'batch.paused')).toBeNull();
    });

    it("lists the batch's messages in order, by state and after an id", async () => {
      const { batch, messages } = await seedBatch(['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com']);
      await claim('w1', 0, [lane(batch, 2)]);
      const ids = messages.map((m) => m.id);
      expect((await store.listBatchMessages(batch.id, { limit: 3 })).map((m) => m.id)).toEqual(ids.slice(0, 3));
      expect((await store.listBatchMessages(batch.id, { after: ids[1], limit: 10 })).map((m) => m.id)).toEqual(ids.slice(2));
      expect((await store.listBatchMessages(batch.id, { status: 'queued', limit: 10 })).map((m) => m.id)).toEqual(ids.slice(2));
      expect((await store.listBatchMessages(batch.id, { status: 'sending', after: ids[0], limit: 10 })).map((m) => m.id)).toEqual([ids[1]]);
    });

    it("lists only the batch's own events after a sequence number, and pages the audit log newest first", async () => {
      const { batch, messages } = await seedBatch(['a@example.com']);
      const other = await seedBatch(['b@example.com']);
      await claim('w1', 0, [lane(batch)]);
      await store.recordAttempts([attempt(messages[0] as Message, 'w1', 'sent')]);
      await store.claimProgress(batch.id, 'd1', at(0), at(3), event(batch.id, 'batch.progress'));
      const own = await store.listBatchEvents(batch.id, { after: 0, limit: 10 });
      expect(own.map((e) => [e.type, e.batchId, e.messageId])).toEqual([['batch.created', batch.id, null], ['batch.progress', batch.id, null]]);
      expect(await store.listBatchEvents(batch.id, { after: (own[0] as { seq: number }).seq, limit: 10 })).toEqual([own[1]]);
      expect(await store.listBatchEvents(batch.id, { after: 0, limit: 1 })).toEqual([own[0]]);
      expect(await store.countBatchEvents(batch.id, 'batch.created')).toBe(1);
      expect(await store.countBatchEvents(other.batch.id, 'message.sent')).toBe(0);

      const entries = await store.listAudit(ws, { limit: 10 });
      expect(entries.map((e) => e.resource)).toEqual([other.batch.id, batch.id]);
      expect(entries[0]).toMatchObject({ workspaceId: ws, keyId: ctx.adminKeyId, action: 'batch.create', createdAt: at(0) });
      expect(await store.listAudit(ws, { before: entries[0]?.seq, limit: 10 })).toEqual(entries.slice(1));
      expect(await store.listAudit('ws_elsewhere', { limit: 10 })).toEqual([]);
    });

    it('deletes a batch and everything it wrote, leaving other batches untouched', async () => {
      const doomed = batchRecord();
      await store.createBatch(doomed, TEMPLATE);
      const doomedMessages = [message(doomed, 'a@example.com'), message(doomed, 'a@example.com')];
      await store.insertBatchRows(doomed.id, doomedMessages, [2, 3], [{ row: 4, email: 'x', reason: 'invalid_address', detail: 'no' }]);
      await store.claimProgress(doomed.id, 'd', at(0), at(0), event(doomed.id, 'batch.progress'));
      const kept = await seedBatch(['a@example.com', 'b@example.com']);
      await store.insertBatchRows(kept.batch.id, [message(kept.batch, 'b@example.com')], [4], []);

      await store.deleteBatch(doomed.id);
      expect(await store.getBatch(ws, doomed.id)).toBeNull();
      expect(await store.getContent(doomed.contentId)).toBeNull();
      expect(await store.getMessage(ws, (doomedMessages[0] as Message).id)).toBeNull();
      expect(await store.listBatchMessages(doomed.id, { limit: 10 })).toEqual([]);
      expect(await store.listBatchRejections(doomed.id, { limit: 10 })).toEqual([]);
      expect(await store.countBatchEvents(doomed.id, 'batch.progress')).toBe(0);
      expect(await store.listMessages(ws, { tag: 'news', limit: 10 })).toHaveLength(2);

      expect(await store.getBatch(ws, kept.batch.id)).toMatchObject({ status: 'sending', total: 2 });
      expect(await store.getContent(kept.batch.contentId)).toEqual(TEMPLATE);
      expect(await store.countBatchMessages(kept.batch.id)).toEqual({ queued: 2 });
      expect(await store.listBatchRejections(kept.batch.id, { limit: 10 })).toHaveLength(1);
      expect(await store.listBatchEvents(kept.batch.id, { after: 0, limit: 10 })).toHaveLength(1);
    });
  });
}
