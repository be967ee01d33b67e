/**
 * Collects attempt records and writes them in chunks, one store transaction per chunk, so that a
 * fast transport is not held back by a commit per message. A chunk is written when it is full or
 * when the oldest record has waited `maxDelayMs`; `flush()` writes whatever is left.
 */
import type { Logger } from '../lib/logger.js';
import type { AttemptRecord, Store } from '../store/store.js';

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
        // The outcomes are facts about mail already handed over: keep trying. If the process dies
        // first, the leases expire and the messages are sent again (at-least-once, never lost).
        const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
        this.logger.error({ err: error, records: chunk.length, attempt }, `recording delivery outcomes failed; retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
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
