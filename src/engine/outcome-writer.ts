/**
 * Collects attempt records and writes them in chunks, one store transaction per chunk, so that a
 * fast transport is not held back by a commit per message. A chunk is written when it is full or
 * when the oldest record has waited `maxDelayMs`; `flush()` writes whatever is left.
 */
import type { Logger } from '../lib/logger.js';
import type { AttemptRecord, Store } from '../store/store.js';

/** Failed commits of a chunk after which its records are written one by one. */
const SPLIT_AFTER = 3;

export class OutcomeWriter {
  #pending: AttemptRecord[] = [];
  /** Records added and not yet committed: pending ones and chunks waiting for their commit. */
  #uncommitted = 0;
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> = Promise.resolve();
  /** Records written that no longer held their lease (another worker had taken the message). */
  lostLeases = 0;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: { chunk: number; maxDelayMs: number },
  ) {}

  #closed = false;

  add(record: AttemptRecord): void {
    if (this.#closed) {
      // A delivery outlived the shutdown timeout: its lease was released, so it will be retried.
      this.logger.warn({ messageId: record.messageId }, 'outcome arrived after shutdown; the message will be attempted again');
      return;
    }
    this.#pending.push(record);
    this.#uncommitted += 1;
    if (this.#pending.length >= this.options.chunk) void this.#write();
    else this.#timer ??= setTimeout(() => void this.#write(), this.options.maxDelayMs);
  }

  /** Records accepted but not yet committed. */
  get pending(): number {
    return this.#uncommitted;
  }

  /**
   * Resolves once fewer than `max` records wait for their commit: the engine's backpressure, so a
   * slow store bounds what a worker has sent but not recorded (what it would send twice if it died).
   */
  async settle(max: number): Promise<void> {
    while (this.#uncommitted >= max) {
      if (this.#pending.length > 0) void this.#write();
      await this.#writing;
    }
  }

  #write(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const chunk = this.#pending;
    this.#pending = [];
    if (chunk.length === 0) return this.#writing;
    // Chunks are written one after another, so the store sees outcomes in the order they came.
    this.#writing = this.#writing.then(() => this.#commit(chunk));
    return this.#writing;
  }

  async #commit(chunk: AttemptRecord[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const held = await this.store.recordAttempts(chunk);
        this.lostLeases += chunk.length - held;
        this.#uncommitted -= chunk.length;
        return;
      } catch (error) {
        if (attempt % SPLIT_AFTER === 0 && chunk.length > 1 && (await this.#oneByOne(chunk))) return;
        // The outcomes are facts about mail already handed over: keep trying. If the process dies
        // first, the leases expire and the messages are sent again (at-least-once, never lost).
        const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
        this.logger.error({ err: error, records: chunk.length, attempt }, `recording delivery outcomes failed; retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * After a chunk failed several times: one record that the store refuses (bad data) must not
   * hold up the rest. Writes each alone; a record refused alone is dropped with an error (its
   * lease runs out and the message is tried again). True when the store took at least one, so
   * it answers and the chunk is done; false when every one failed (the store is away): retry.
   */
  async #oneByOne(chunk: AttemptRecord[]): Promise<boolean> {
    let written = 0;
    const refused: AttemptRecord[] = [];
    for (const record of chunk) {
      try {
        const held = await this.store.recordAttempts([record]);
        this.lostLeases += 1 - held;
        written += 1;
      } catch {
        refused.push(record);
      }
    }
    if (written === 0) return false;
    for (const record of refused) this.logger.error({ messageId: record.messageId, status: record.status }, 'the store refused this delivery outcome; dropped, the message will be attempted again');
    this.#uncommitted -= chunk.length;
    return true;
  }

  /** Writes everything pending and waits for it to be committed. */
  async flush(): Promise<void> {
    await this.#write();
    await this.#writing;
  }

  /** Flushes, then refuses further records. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }
}
