/**
 * Following a batch from the CLI: reads `GET /v1/batches/:id/events` (reconnecting with
 * `Last-Event-ID` when the connection drops), shows progress on stderr (a rewritten one-line bar
 * on a terminal, one plain line per update otherwise, so CI logs stay readable), and formats
 * the batch's state and counters. It decides when following ends, never the exit code.
 */
import type { BatchCounters, BatchStatus } from '../core/batch-state.js';
import { doneOf } from '../core/batch-state.js';
import { CliError, readServerSentEvents, type ApiClient } from './api-client.js';

/** The API's batch JSON (`batchView`), as far as the CLI reads it. */
export interface BatchJson {
  id: string;
  status: BatchStatus;
  status_reason: string | null;
  total: number;
  rejected: number;
  counters: BatchCounters;
  rate_per_second: number | null;
  eta_seconds: number | null;
  options: { canary?: { hold?: boolean } | null } & Record<string, unknown>;
  created_at: string;
  completed_at: string | null;
}

/** Why following stopped: a final state, or one that needs a person (paused, awaiting approval). */
export interface FollowEnd {
  status: 'completed' | 'cancelled' | 'paused' | 'awaiting_approval';
  reason: string | null;
}

interface Snapshot {
  status: string;
  counters: BatchCounters;
  rate: number | null;
  eta: number | null;
}

const count = (n: number) => n.toLocaleString('en-US');

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** `1,234/5,000  25% · 310/s · ETA 12s · bounced 3 · failed 0` */
function progressText(snap: Snapshot): string {
  const total = snap.counters.total;
  const done = doneOf(snap.counters);
  const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
  const rate = snap.rate === null ? '–/s' : `${count(Math.round(snap.rate))}/s`;
  const eta = snap.eta === null ? 'ETA –' : `ETA ${formatDuration(snap.eta)}`;
  return `${count(done)}/${count(total)}  ${percent}% · ${rate} · ${eta} · bounced ${count(snap.counters.bounced)} · failed ${count(snap.counters.failed)}`;
}

function bar(counters: BatchCounters, width = 20): string {
  const fraction = counters.total > 0 ? Math.min(1, doneOf(counters) / counters.total) : 1;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Progress on stderr: a bar rewritten with `\r` on a terminal, plain lines otherwise. */
export class ProgressDisplay {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #id: string;
  #drawn = false;
  #last: Snapshot | null = null;

  constructor(out: NodeJS.WriteStream, id: string) {
    this.#out = out;
    this.#tty = out.isTTY === true;
    this.#id = id;
  }

  update(snap: Snapshot): void {
    this.#last = snap;
    if (this.#tty) {
      this.#out.write(`\r\x1b[K${bar(snap.counters)} ${progressText(snap)}`);
      this.#drawn = true;
    } else {
      this.#out.write(`${this.#id} ${snap.status}: ${progressText(snap)}\n`);
    }
  }

  /** A line of its own (a state change, a reconnect), above the bar on a terminal. */
  note(text: string): void {
    this.#clear();
    this.#out.write(`${text}\n`);
    if (this.#tty && this.#last) this.update(this.#last);
  }

  /** Leaves the last bar on screen and moves below it. */
  finish(): void {
    if (this.#drawn) this.#out.write('\n');
    this.#drawn = false;
  }

  #clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }
}

function snapshotOf(batch: BatchJson): Snapshot {
  return { status: batch.status, counters: batch.counters, rate: batch.rate_per_second, eta: batch.eta_seconds };
}

/** Where following stops for a batch in this state, or null to go on. */
export function endOf(batch: BatchJson): FollowEnd | null {
  if (batch.status === 'completed' || batch.status === 'cancelled' || batch.status === 'paused') return { status: batch.status, reason: batch.status_reason };
  if (batch.status === 'awaiting_approval' && batch.options.canary?.hold !== false) {
    return { status: 'awaiting_approval', reason: 'the canary sample is done and the batch waits for approval' };
  }
  return null;
}

interface EventPayload {
  data?: { status?: string; reason?: string; hold?: boolean; counters?: BatchCounters; rate_per_second?: number | null; eta_seconds?: number | null };
}

const IDLE_CHECK_MS = 5_000;
const MAX_RECONNECTS = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows a batch until it completes, is cancelled, or needs a person. Also asks for the batch
 * when the stream has been quiet for a while: an event that happened between the server's
 * snapshot and its first poll would otherwise be missed for good.
 */
export async function followBatch(client: ApiClient, id: string, display: ProgressDisplay): Promise<FollowEnd> {
  const path = `/v1/batches/${encodeURIComponent(id)}`;
  let lastEventId: string | null = null;
  let failures = 0;
  for (;;) {
    const controller = new AbortController();
    let ended: FollowEnd | null = null;
    let quietSince = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - quietSince < IDLE_CHECK_MS) return;
      quietSince = Date.now();
      client.json<BatchJson>(path, { signal: controller.signal }).then(
        (batch) => {
          ended = endOf(batch);
          if (ended) controller.abort();
        },
        () => undefined,
      );
    }, 1000);
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...(lastEventId !== null ? { 'last-event-id': lastEventId } : {}) };
      const response = await client.request(`${path}/events`, { headers, signal: controller.signal });
      if (!response.body) throw new CliError('the event stream had no body');
      for await (const event of readServerSentEvents(response.body)) {
        quietSince = Date.now();
        failures = 0;
        if (event.id !== null) lastEventId = event.id;
        if (event.event === 'batch.state') {
          const batch = JSON.parse(event.data) as BatchJson;
          display.update(snapshotOf(batch));
          const end = endOf(batch);
          if (end) return end;
          continue;
        }
        if (event.event === 'error') {
          display.note(`${id}: the server reported a problem (${event.data}); reconnecting`);
          continue;
        }
        const payload = (JSON.parse(event.data) as EventPayload).data ?? {};
        if (event.event === 'batch.progress' && payload.counters) {
          display.update({ status: payload.status ?? 'sending', counters: payload.counters, rate: payload.rate_per_second ?? null, eta: payload.eta_seconds ?? null });
          continue;
        }
        if (event.event === 'batch.completed') return { status: 'completed', reason: null };
        if (event.event === 'batch.cancelled') return { status: 'cancelled', reason: payload.reason ?? null };
        if (event.event === 'batch.paused') return { status: 'paused', reason: payload.reason ?? 'paused by an operator' };
        if (event.event === 'batch.awaiting_approval' && payload.hold !== false) {
          return { status: 'awaiting_approval', reason: 'the canary sample is done and the batch waits for approval' };
        }
        if (payload.status) display.note(`${id}: ${payload.status}${payload.reason ? ` (${payload.reason})` : ''}`);
      }
    } catch (error) {
      if (ended) return ended;
      // The API refused (unknown batch, key revoked): reconnecting will not help.
      if (error instanceof CliError && error.status !== null && error.status < 500) throw error;
      failures += 1;
      if (failures > MAX_RECONNECTS) throw error;
      display.note(`${id}: lost the event stream (${(error as Error).message.split(';')[0]}); reconnecting (${failures}/${MAX_RECONNECTS})`);
    } finally {
      clearInterval(watchdog);
      controller.abort();
    }
    if (ended) return ended;
    // The stream ended without a final event (server restart, or the race above): ask, then go on.
    const batch = await client.json<BatchJson>(path).catch(() => null);
    const end = batch ? endOf(batch) : null;
    if (end) return end;
    await sleep(Math.min(10_000, 250 * 2 ** failures));
  }
}

/** The counters as a two-column table, with a hint next to rejected rows. */
export function formatCounters(batch: BatchJson): string {
  const c = batch.counters;
  const rows: [string, number][] = [
    ['total', c.total], ['queued', c.queued], ['sending', c.sending], ['sent', c.sent], ['delivered', c.delivered], ['deferred', c.deferred],
    ['bounced', c.bounced], ['failed', c.failed], ['suppressed', c.suppressed], ['cancelled', c.cancelled], ['rejected', c.rejected],
  ];
  const width = Math.max(...rows.map(([, n]) => count(n).length));
  return rows
    .map(([name, n]) => {
      const hint = name === 'rejected' && n > 0 ? `   rows refused at upload; see why: herald batch export ${batch.id}` : '';
      return `  ${name.padEnd(11)}${count(n).padStart(width)}${hint}`;
    })
    .join('\n');
}

/** `herald batch status`: the state, why, how fast, how long still, and the counters. */
export function formatStatus(batch: BatchJson): string {
  const done = doneOf(batch.counters);
  const percent = batch.total > 0 ? Math.floor((done / batch.total) * 100) : 100;
  const lines = [`Batch ${batch.id}: ${batch.status}${batch.status_reason ? ` (${batch.status_reason})` : ''}`];
  lines.push(`  done ${count(done)}/${count(batch.total)} (${percent}%)`);
  if (batch.rate_per_second !== null) lines.push(`  rate ${count(batch.rate_per_second)}/s`);
  if (batch.eta_seconds !== null) lines.push(`  ETA  ${formatDuration(batch.eta_seconds)}`);
  lines.push(`  created ${batch.created_at}${batch.completed_at ? `, finished ${batch.completed_at}` : ''}`, '', formatCounters(batch));
  return lines.join('\n');
}
