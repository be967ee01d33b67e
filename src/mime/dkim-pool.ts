/**
 * DkimSignerPool: DKIM signing spread over worker threads so every core does RSA work. It owns
 * the threads, the queue and batching of messages, dispatch, crash recovery and shutdown; it
 * must not sign anything itself (dkim-worker.ts → dkim-sign.ts does) nor retry a message whose
 * worker died — the caller decides that, since a message that crashes a worker would crash the
 * next one too.
 *
 * Throughput: messages queued in the same tick travel together, in batches of up to
 * {@link MAX_BATCH}, so a postMessage round trip is paid per batch, not per message. Each worker
 * has at most two batches outstanding — one being signed, one waiting — so it never idles on a
 * round trip, the least-loaded worker gets the next batch, and a crash loses little.
 *
 * Threads are started through dkim-worker.ts's startWorker, which explains how the worker
 * script is found both compiled and from sources.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { ERRORS, HeraldError, type ErrorCode } from '../core/errors.js';
import type { DkimKey, DkimOptions } from './dkim-sign.js';
import {
  locateWorker, startWorker, type JobFailure, type JobResult, type SignJob, type WorkerRequest, type WorkerResponse,
  type WorkerSource,
} from './dkim-worker.js';

/** Most messages sent to a worker in one postMessage. */
export const MAX_BATCH = 64;
/** Batches a worker may hold at once: one being signed and one queued behind it. */
const BATCHES_PER_WORKER = 2;
/** Workers that die in a row before starting mark the pool broken instead of being replaced forever. */
const START_FAILURES_ALLOWED = 3;

export interface DkimSignerPoolOptions {
  /** Worker threads to run. Default: `os.availableParallelism()`. */
  threads?: number;
}

/** A message could not be signed because its worker thread died or could not start, or the pool is closed. */
export class DkimWorkerError extends Error {
  constructor(
    message: string,
    /** The worker thread concerned, when there is one. */
    readonly threadId: number | undefined,
    /** The thread's exit code, when it exited. */
    readonly exitCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DkimWorkerError';
  }
}

interface QueuedJob {
  job: SignJob;
  resolve: (signed: string) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Kept because `worker.threadId` reads -1 once the thread has exited. */
  threadId: number;
  ready: boolean;
  /** Batches sent and not yet answered, by batch number. */
  batches: Map<number, QueuedJob[]>;
  /** The uncaught error the thread reported before exiting, if any. */
  failure: Error | undefined;
}

/**
 * Signs messages with dkimSign on a pool of worker threads.
 *
 * @example
 * const pool = new DkimSignerPool();
 * const signed = await pool.signMany(messages, [rsaKey, ed25519Key]);
 * await pool.close();
 */
export class DkimSignerPool {
  readonly #threads: number;
  readonly #source: WorkerSource;
  readonly #slots: Slot[] = [];
  /** Jobs not yet sent to a worker: `#queue` from index `#head` on. */
  #queue: QueuedJob[] = [];
  #head = 0;
  #flushScheduled = false;
  #nextBatch = 1;
  #startFailures = 0;
  #broken: DkimWorkerError | undefined;
  #closing: Promise<void> | undefined;
  #terminating = false;
  #whenIdle: (() => void) | undefined;

  constructor(options: DkimSignerPoolOptions = {}) {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new HeraldError('invalid_config', { field: 'dkim.threads', reason: 'must be a whole number of at least 1' });
    }
    this.#threads = threads;
    this.#source = locateWorker();
    for (let index = 0; index < threads; index += 1) this.#slots.push(this.#start());
  }

  /** Signs one message; calls made in the same tick are batched together. See dkimSign for the result. */
  sign(raw: string, keys: DkimKey[], options?: DkimOptions): Promise<string> {
    const promise = this.#enqueue({ raw, keys, options });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
    return promise;
  }

  /** Signs many messages with the same keys and options; the result is in input order. */
  signMany(raws: readonly string[], keys: DkimKey[], options?: DkimOptions): Promise<string[]> {
    const promises = raws.map((raw) => this.#enqueue({ raw, keys, options }));
    this.#flush();
    return Promise.all(promises);
  }

  /**
   * Stops accepting messages, waits for those already accepted, then ends the threads. Calling it
   * again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  /**
   * Test hook: makes worker `index` die from an uncaught exception, as a crashing worker would;
   * batches it holds are rejected with DkimWorkerError and the worker is replaced.
   * @internal
   */
  crashWorkerForTesting(index: number): void {
    this.#slots[index]?.worker.postMessage({ type: 'crash' } satisfies WorkerRequest);
  }

  /** Thread ids of the current workers (they change when a worker is replaced). */
  get threadIds(): number[] {
    return this.#slots.map((slot) => slot.worker.threadId);
  }

  #enqueue(job: SignJob): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const refusal = this.#broken ?? (this.#closing ? new DkimWorkerError('the DKIM signer pool is closed', undefined, undefined) : undefined);
      if (refusal) reject(refusal);
      else this.#queue.push({ job, resolve, reject });
    });
  }

  #flush(): void {
    while (this.#head < this.#queue.length) {
      const slot = this.#leastLoaded();
      if (slot === undefined) return;
      const waiting = this.#queue.length - this.#head;
      const size = Math.min(MAX_BATCH, Math.ceil(waiting / (this.#threads * BATCHES_PER_WORKER)));
      const taken = this.#queue.slice(this.#head, this.#head + size);
      this.#head += size;
      if (this.#head === this.#queue.length || this.#head > 4096) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      const batch = this.#nextBatch++;
      if (slot.batches.size === 0) slot.worker.ref();
      slot.batches.set(batch, taken);
      slot.worker.postMessage({ type: 'sign', batch, jobs: taken.map((queued) => queued.job) } satisfies WorkerRequest);
    }
  }

  #leastLoaded(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.batches.size >= BATCHES_PER_WORKER) continue;
      if (best === undefined || slot.batches.size < best.batches.size) best = slot;
    }
    return best;
  }

  #start(): Slot {
    const worker = startWorker(this.#source);
    const slot: Slot = { worker, threadId: worker.threadId, ready: false, batches: new Map(), failure: undefined };
    // Idle threads must not keep the process alive; #flush refs a thread while it has work.
    worker.unref();
    worker.on('message', (response: WorkerResponse) => this.#receive(slot, response));
    worker.on('error', (error) => {
      slot.failure = error;
    });
    worker.on('exit', (code) => this.#exited(slot, code));
    return slot;
  }

  #receive(slot: Slot, response: WorkerResponse): void {
    if (response.type === 'ready') {
      slot.ready = true;
      this.#startFailures = 0;
      return;
    }
    const jobs = slot.batches.get(response.batch) ?? [];
    slot.batches.delete(response.batch);
    this.#flush();
    if (slot.batches.size === 0) slot.worker.unref();
    response.results.forEach((result: JobResult, index) => {
      const queued = jobs[index];
      if (queued === undefined) return;
      if (result.ok) queued.resolve(result.signatures + queued.job.raw);
      else queued.reject(rebuildError(result.error));
    });
    this.#checkIdle();
  }

  #exited(slot: Slot, code: number): void {
    const index = this.#slots.indexOf(slot);
    if (this.#terminating || index < 0) return;
    const threadId = slot.threadId;
    const cause = slot.failure;
    const lost = [...slot.batches.values()].flat();
    const detail = cause ? `: ${cause.message}` : '';
    const error = new DkimWorkerError(
      `DKIM signing worker ${threadId} exited with code ${code}${detail}; ${lost.length} message(s) it held were not signed`,
      threadId,
      code,
      cause ? { cause } : undefined,
    );
    for (const queued of lost) queued.reject(error);

    if (!slot.ready) this.#startFailures += 1;
    if (this.#startFailures >= START_FAILURES_ALLOWED) {
      this.#broken = new DkimWorkerError(`DKIM signing workers fail to start${detail}`, threadId, code, cause ? { cause } : undefined);
      for (const queued of this.#queue.slice(this.#head)) queued.reject(this.#broken);
      this.#queue = [];
      this.#head = 0;
      this.#slots.splice(index, 1);
    } else {
      this.#slots[index] = this.#start();
      this.#flush();
    }
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#whenIdle && this.#head === this.#queue.length && this.#slots.every((slot) => slot.batches.size === 0)) {
      this.#whenIdle();
      this.#whenIdle = undefined;
    }
  }

  async #shutDown(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#whenIdle = resolve;
      this.#checkIdle();
    });
    this.#terminating = true;
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }
}

function rebuildError(failure: JobFailure): Error {
  if (failure.code !== undefined && failure.code in ERRORS) {
    return new HeraldError(failure.code as ErrorCode, failure.params ?? {});
  }
  const error = new Error(failure.message);
  error.name = failure.name;
  return error;
}
