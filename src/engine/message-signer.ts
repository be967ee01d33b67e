/**
 * Signs outgoing messages with the DKIM keys of their From domain on the worker-thread pool, so
 * every core signs while the main thread keeps the SMTP pipes full. Messages of a domain without
 * keys, and relayed 8-bit mail that is not UTF-8 (kept as raw bytes), leave unsigned.
 */
import type { DkimKeySource } from '../mime/dkim-keys.js';
import type { DkimSignerPool } from '../mime/dkim-pool.js';
import type { OutgoingMessage } from '../transports/transport.js';

export class MessageSigner {
  #pool: DkimSignerPool | null;
  readonly #makePool: (() => DkimSignerPool) | null;

  /**
   * `pool` may be a factory: the threads then start at the first message that has keys, so a
   * process whose domains have none yet (sending domains not verified) runs no idle threads.
   */
  constructor(
    pool: DkimSignerPool | (() => DkimSignerPool),
    private readonly keys: DkimKeySource,
  ) {
    this.#pool = typeof pool === 'function' ? null : pool;
    this.#makePool = typeof pool === 'function' ? pool : null;
  }

  async sign(message: OutgoingMessage, fromDomain: string | null): Promise<OutgoingMessage> {
    if (fromDomain === null || typeof message.raw !== 'string') return message;
    const keys = this.keys.keysFor(fromDomain);
    if (keys.length === 0) return message;
    this.#pool ??= (this.#makePool as () => DkimSignerPool)();
    return { ...message, raw: await this.#pool.sign(message.raw, [...keys]) };
  }

  close(): Promise<void> {
    return this.#pool?.close() ?? Promise.resolve();
  }
}
