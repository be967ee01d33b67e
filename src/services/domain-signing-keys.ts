/**
 * The signers' view of sending domains: the active keys of verified domains, opened once and kept
 * in memory, so `keysFor` (called per message, synchronously) never waits. A refresh asks the
 * store for a cheap version stamp every few seconds and reloads only when it moved; keys already
 * opened are reused. A key that does not open (sealed with another master key) is skipped and
 * reported once: the domain's mail leaves unsigned rather than not at all.
 *
 * Several workspaces may each verify the same domain (each proved control in DNS): mail from it
 * is signed with every such key.
 */
import { domainToASCII } from 'node:url';
import type { DkimKey } from '../mime/dkim-sign.js';
import type { DkimKeySource } from '../mime/dkim-keys.js';
import type { SigningKeyRecord, Store } from '../store/store.js';
import type { KeySealer } from './domain-keys.js';

export interface SigningKeyLog {
  error(details: Record<string, unknown>, message: string): void;
}

export interface StoreDkimKeysOptions {
  store: Pick<Store, 'listSigningKeys' | 'signingKeysVersion'>;
  sealer: KeySealer;
  /** How often to look for changes, ms; default 5000. */
  intervalMs?: number;
  log?: SigningKeyLog;
}

const NON_ASCII = /[^\u0020-\u007e]/;

/**
 * @example
 * const keys = new StoreDkimKeys({ store, sealer });
 * await keys.refresh();
 * keys.start();
 * signer = new MessageSigner(pool, composeKeySources(configKeys, keys));
 */
export class StoreDkimKeys implements DkimKeySource {
  readonly #o: Readonly<StoreDkimKeysOptions>;
  #byDomain = new Map<string, DkimKey[]>();
  /** Opened keys by key id, so a reload opens only new ones. */
  #opened = new Map<string, DkimKey>();
  /** Keys that would not open, by id: reported once. */
  readonly #failed = new Set<string>();
  #version: string | null = null;
  #running: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: StoreDkimKeysOptions) {
    this.#o = Object.freeze({ ...options });
  }

  keysFor(domain: string): readonly DkimKey[] {
    const lower = domain.toLowerCase();
    return this.#byDomain.get(NON_ASCII.test(lower) ? domainToASCII(lower) : lower) ?? [];
  }

  /** Reloads when the store's keys changed; calls made while one runs share it. */
  refresh(): Promise<void> {
    this.#running ??= this.#reload().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Refreshes every `intervalMs` until `stop()`; failures are logged and retried at the next tick. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.#o.log?.error({ err: error }, 'reloading DKIM keys of sending domains failed'));
    }, this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #reload(): Promise<void> {
    const version = await this.#o.store.signingKeysVersion();
    if (version === this.#version) return;
    const records = await this.#o.store.listSigningKeys();
    const opened = new Map<string, DkimKey>();
    const byDomain = new Map<string, DkimKey[]>();
    for (const record of records) {
      const key = this.#opened.get(record.keyId) ?? this.#open(record);
      if (key === null) continue;
      opened.set(record.keyId, key);
      const keys = byDomain.get(key.domain) ?? [];
      if (!keys.some((k) => k.selector === key.selector)) keys.push(key);
      byDomain.set(key.domain, keys);
    }
    this.#opened = opened;
    this.#byDomain = byDomain;
    this.#version = version;
  }

  #open(record: SigningKeyRecord): DkimKey | null {
    try {
      const pem = this.#o.sealer.open(record.sealed, { keyId: record.keyId, domain: record.domain, selector: record.selector });
      return { domain: record.domain, selector: record.selector, algorithm: record.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', privateKey: pem };
    } catch (error) {
      if (!this.#failed.has(record.keyId)) {
        this.#failed.add(record.keyId);
        this.#o.log?.error({ err: error, domain: record.domain, selector: record.selector }, 'a DKIM key of a sending domain does not open: its mail leaves unsigned');
      }
      return null;
    }
  }
}
