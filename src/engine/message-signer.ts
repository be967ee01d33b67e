/**
 * Signs outgoing messages with the DKIM keys of their From domain, as its workspace holds them, on
 * the worker-thread pool, so every core signs while the main thread keeps the SMTP pipes full.
 * Messages of a domain without keys, and relayed 8-bit mail that is not UTF-8 (kept as raw bytes),
 * leave unsigned — except, when the signer is given a sender check, mail whose From domain is no
 * longer a verified sending domain of its workspace (deleted, or back to pending since it was
 * accepted): that is refused with `SenderNotVerifiedError` and fails, rather than leaving
 * unsigned to fail DMARC. The check reads a view refreshed once per claimed chunk, never the store
 * per message.
 */
import type { DkimKeySource } from '../mime/dkim-keys.js';
import type { DkimSignerPool } from '../mime/dkim-pool.js';
import type { OutgoingMessage } from '../transports/transport.js';

/** Which From domains a workspace may (still) send from, beyond those with keys. */
export interface SenderCheck {
  /** Whether `domain` is a verified sending domain of the workspace, as last refreshed. */
  verifies(domain: string, workspaceId: string): boolean;
  /** Brings the view up to date (a cheap version query when nothing changed). */
  refresh(): Promise<void>;
}

/** Mail whose From domain is no longer a verified sending domain of its workspace: it fails with this message as its reply. */
export class SenderNotVerifiedError extends Error {
  constructor(readonly domain: string) {
    super(`not sent: the From domain ${domain} is no longer a verified sending domain of this workspace (deleted, or back to pending after a check); verify it and send again`);
    this.name = 'SenderNotVerifiedError';
  }
}

export interface MessageSignerOptions {
  /**
   * Refuse mail of a domain with no keys unless it is a verified sending domain of its workspace.
   * None (`--allow-unverified`, capture): such mail leaves unsigned.
   */
  senders?: SenderCheck | null | undefined;
}

export class MessageSigner {
  #pool: DkimSignerPool | null;
  readonly #makePool: (() => DkimSignerPool) | null;
  readonly #senders: SenderCheck | null;

  /**
   * `pool` may be a factory: the threads then start at the first message that has keys, so a
   * process whose domains have none yet (sending domains not verified) runs no idle threads.
   */
  constructor(
    pool: DkimSignerPool | (() => DkimSignerPool),
    private readonly keys: DkimKeySource,
    options: MessageSignerOptions = {},
  ) {
    this.#pool = typeof pool === 'function' ? null : pool;
    this.#makePool = typeof pool === 'function' ? pool : null;
    this.#senders = options.senders ?? null;
  }

  /** Refreshes the sender check's view: called once per claimed chunk, before its messages are signed. */
  refreshSenders(): Promise<void> {
    return this.#senders?.refresh() ?? Promise.resolve();
  }

  /**
   * The message signed with the keys of workspace `workspaceId` for `fromDomain` (the domain
   * acceptance approved). Throws `SenderNotVerifiedError` when it has none and may not send.
   */
  async sign(message: OutgoingMessage, fromDomain: string | null, workspaceId: string): Promise<OutgoingMessage> {
    if (fromDomain === null) return message;
    const keys = this.keys.keysFor(fromDomain, workspaceId);
    if (keys.length === 0) {
      if (this.#senders !== null && !this.#senders.verifies(fromDomain, workspaceId)) throw new SenderNotVerifiedError(fromDomain);
      return message;
    }
    if (typeof message.raw !== 'string') return message;
    this.#pool ??= (this.#makePool as () => DkimSignerPool)();
    return { ...message, raw: await this.#pool.sign(message.raw, [...keys]) };
  }

  close(): Promise<void> {
    return this.#pool?.close() ?? Promise.resolve();
  }
}
