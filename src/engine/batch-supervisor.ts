/**
 * Moves batches through their states (core/batch-state.ts) from what the store says, on a timer
 * in every worker process: starts them when `send_at` comes, watches the canary sample, lets an
 * unheld canary go on when the sample is healthy, pauses a batch whose bounce or complaint rate
 * crosses its guard rails, completes it when nothing is left to send, and reports progress at
 * most once a second while anything changes. Every move is a conditional update, so several
 * workers can supervise at once and each transition happens once.
 *
 * Also the janitor: a batch left `validating` by a process that died mid-upload is deleted.
 */
import { countersOf, doneOf, guardRailBreach, pendingOf, type BatchCounters, type BatchStatus, type GuardRails } from '../core/batch-state.js';
import type { IdSource } from '../core/ids.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { BatchRecord, NewEvent, Store } from '../store/store.js';

export interface SupervisorOptions {
  store: Store;
  ids: IdSource;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  progressIntervalMs?: number;
  /** A validating batch untouched this long was abandoned. */
  staleAfterMs?: number;
  /** Where `batch.completed` points for the export. */
  publicUrl?: string;
}

interface CanaryOptions {
  percent: number;
  hold: boolean;
  hold_seconds: number;
}

function canaryOf(batch: BatchRecord): CanaryOptions | null {
  const canary = batch.options.canary as CanaryOptions | null | undefined;
  return canary ?? null;
}

function railsOf(batch: BatchRecord): GuardRails {
  const p = (batch.options.policies ?? {}) as { max_bounce_rate?: number; max_complaint_rate?: number; min_outcomes?: number };
  return { maxBounceRate: p.max_bounce_rate ?? 0.05, maxComplaintRate: p.max_complaint_rate ?? 0.003, minOutcomes: p.min_outcomes ?? 100 };
}

export class BatchSupervisor {
  readonly #o: Required<Omit<SupervisorOptions, 'publicUrl'>> & { publicUrl: string | undefined };
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #lastJanitor = 0;
  /** Per batch, an earlier (time, done) sample for the rate now. */
  readonly #history = new Map<string, { at: number; done: number }[]>();

  constructor(options: SupervisorOptions) {
    this.#o = {
      intervalMs: 500,
      progressIntervalMs: 1000,
      staleAfterMs: 10 * 60_000,
      ...options,
      publicUrl: options.publicUrl,
    };
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#ticking) return;
      this.#ticking = this.tick()
        .catch((error: unknown) => this.#o.logger.error({ err: error }, 'batch supervision failed'))
        .finally(() => {
          this.#ticking = null;
        });
    }, this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#ticking;
  }

  #event(batch: BatchRecord, type: string, data: Record<string, unknown>): NewEvent {
    return { id: this.#o.ids.next('event'), workspaceId: batch.workspaceId, type, messageId: null, batchId: batch.id, recipient: null, data, createdAt: this.#o.clock.now().toISOString() };
  }

  async #move(batch: BatchRecord, from: BatchStatus, to: BatchStatus, type: string, data: Record<string, unknown>, extra: { reason?: string; canaryDone?: boolean } = {}): Promise<void> {
    const moved = await this.#o.store.transitionBatch({
      batchId: batch.id,
      from: [from],
      to,
      reason: extra.reason ?? null,
      now: this.#o.clock.now().toISOString(),
      event: this.#event(batch, type, { ...data, status: to, previous_status: from }),
      audit: extra.reason === undefined ? null : {
        id: this.#o.ids.next('event'), workspaceId: batch.workspaceId, keyId: null, action: `batch.${to === 'paused' ? 'pause' : to}`,
        resource: batch.id, detail: { automatic: true, reason: extra.reason }, createdAt: this.#o.clock.now().toISOString(),
      },
      ...(extra.canaryDone ? { canaryDone: true } : {}),
    });
    if (moved) this.#o.logger.info({ batch: batch.id, from, to, reason: extra.reason }, 'batch state changed');
  }

  async #counters(batch: BatchRecord, sampleOnly = false): Promise<BatchCounters> {
    const counts = await this.#o.store.countBatchMessages(batch.id, { sampleOnly });
    return countersOf(sampleOnly ? batch.sampleSize : batch.total, sampleOnly ? 0 : batch.rejected, counts);
  }

  /** One round over every active batch; public so tests can drive it without timers. */
  async tick(): Promise<void> {
    const now = this.#o.clock.now().getTime();
    if (now - this.#lastJanitor >= Math.min(60_000, this.#o.staleAfterMs / 2)) {
      this.#lastJanitor = now;
      for (const id of await this.#o.store.listStaleBatches(new Date(now - this.#o.staleAfterMs).toISOString())) {
        this.#o.logger.warn({ batch: id }, 'deleting a batch whose upload was abandoned');
        await this.#o.store.deleteBatch(id);
      }
    }
    for (const batch of await this.#o.store.listActiveBatches()) await this.#supervise(batch, now);
  }

  async #supervise(batch: BatchRecord, now: number): Promise<void> {
    const canary = canaryOf(batch);
    switch (batch.status) {
      case 'scheduled': {
        if (batch.sendAt !== null && new Date(batch.sendAt).getTime() > now) return;
        if (canary && batch.sampleSize > 0) await this.#move(batch, 'scheduled', 'canary', 'batch.canary_started', { sample_size: batch.sampleSize });
        else await this.#move(batch, 'scheduled', 'sending', 'batch.sending', {});
        return;
      }
      case 'canary': {
        const sample = await this.#counters(batch, true);
        if (pendingOf(sample) === 0) {
          await this.#move(batch, 'canary', 'awaiting_approval', 'batch.awaiting_approval', { sample: sample, hold: canary?.hold ?? true }, { canaryDone: true });
        }
        await this.#progress(batch, now);
        return;
      }
      case 'awaiting_approval': {
        if (!canary || canary.hold || batch.canaryDoneAt === null) return;
        if (new Date(batch.canaryDoneAt).getTime() + canary.hold_seconds * 1000 > now) return;
        const sample = await this.#counters(batch, true);
        const outcomes = sample.sent + sample.delivered + sample.bounced + sample.failed;
        const rails = railsOf(batch);
        const bounceRate = outcomes === 0 ? 0 : sample.bounced / outcomes;
        const failureRate = outcomes === 0 ? 0 : sample.failed / outcomes;
        if (bounceRate > rails.maxBounceRate || failureRate > rails.maxBounceRate) {
          const reason = `canary sample: bounce rate ${(bounceRate * 100).toFixed(1)}%, failure rate ${(failureRate * 100).toFixed(1)}% over ${outcomes} messages exceed ${(rails.maxBounceRate * 100).toFixed(1)}%`;
          await this.#move(batch, 'awaiting_approval', 'paused', 'batch.paused', { reason, automatic: true }, { reason });
        } else {
          await this.#move(batch, 'awaiting_approval', 'sending', 'batch.approved', { automatic: true, sample });
        }
        return;
      }
      case 'sending': {
        const counters = await this.#counters(batch);
        const complaints = await this.#o.store.countBatchEvents(batch.id, 'message.complained');
        const breach = guardRailBreach(counters, complaints, railsOf(batch));
        if (breach !== null) {
          await this.#move(batch, 'sending', 'paused', 'batch.paused', { reason: breach, automatic: true, counters }, { reason: breach });
        } else if (pendingOf(counters) === 0) {
          await this.#progress(batch, now, counters);
          await this.#move(batch, 'sending', 'completed', 'batch.completed', { counters, export_url: this.#exportUrl(batch) });
          this.#history.delete(batch.id);
          return;
        }
        await this.#progress(batch, now, counters);
        return;
      }
      default:
        return;
    }
  }

  #exportUrl(batch: BatchRecord): string {
    const path = `/v1/batches/${batch.id}/export?format=csv`;
    return this.#o.publicUrl ? new URL(path, this.#o.publicUrl).toString() : path;
  }

  /** Emits batch.progress when the counters changed and the last one is a second old (across workers). */
  async #progress(batch: BatchRecord, now: number, known?: BatchCounters): Promise<void> {
    const counters = known ?? (await this.#counters(batch));
    const done = doneOf(counters);
    const history = this.#history.get(batch.id) ?? [];
    history.push({ at: now, done });
    while (history.length > 1 && now - (history[0]?.at ?? now) > 10_000) history.shift();
    this.#history.set(batch.id, history);
    const first = history[0] ?? { at: now, done };
    const perSecond = now > first.at ? (done - first.done) / ((now - first.at) / 1000) : 0;
    const pending = pendingOf(counters);
    const digest = JSON.stringify(counters);
    const data = {
      status: batch.status,
      counters,
      rate_per_second: Math.round(perSecond * 10) / 10,
      eta_seconds: perSecond > 0 ? Math.ceil(pending / perSecond) : null,
    };
    const nowIso = new Date(now).toISOString();
    await this.#o.store.claimProgress(batch.id, digest, new Date(now - this.#o.progressIntervalMs).toISOString(), nowIso, this.#event(batch, 'batch.progress', data));
  }
}
