/**
 * Signs outgoing messages with the DKIM keys of their From domain on the worker-thread pool, so
 * every core signs while the main thread keeps the SMTP pipes full. Messages of a domain without
 * keys, and relayed 8-bit mail that is not UTF-8 (kept as raw bytes), leave unsigned.
 */
import type { DkimKeySource } from '../mime/dkim-keys.js';
import type { DkimSignerPool } from '../mime/dkim-pool.js';
import type { OutgoingMessage } from '../transports/transport.js';

export class MessageSigner {
  constructor(
    private readonly pool: DkimSignerPool,
    private readonly keys: DkimKeySource,
  ) {}

  async sign(message: OutgoingMessage, fromDomain: string | null): Promise<OutgoingMessage> {
    if (fromDomain === null || typeof message.raw !== 'string') return message;
    const keys = this.keys.keysFor(fromDomain);
    if (keys.length === 0) return message;
    return { ...message, raw: await this.pool.sign(message.raw, [...keys]) };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
