/**
 * The signers' view of sending domains: the active keys of verified domains, opened once and kept
 * in memory, so `keysFor` (called per message, synchronously) never waits. A refresh asks the
 * store for a cheap version stamp every few seconds and reloads only when it moved; keys already
 * opened are reused. A key that does not open (sealed with another master key) is skipped and
 * reported once: the domain's mail leaves unsigned rather than not at all.
 *
 * Keys belong to the workspace that verified their domain: several workspaces may each verify the
 * same domain (each proved control in DNS), and each one's mail is signed with its own key only,
 * never with another workspace's. `verifies` says whether a domain is still verified for a
 * workspace, so mail queued before its domain was deleted (or fell back to pending) is not sent
 * unsigned (engine/message-signer.ts).
 *
 * The same reload tells which domains each workspace has verified, so the return path of their
 * mail can align with them (`returnPathDomainFor`) and the bounce listener knows the
 * `bounces.<domain>` hosts it takes mail for (`isReturnPathDomain`). A process that does not
 * sign (an API node's bounce listener) keeps only that, with `signing: false`.
 */
import { domainToASCII } from 'node:url';
import type { DkimKey } from '../mime/dkim-sign.js';
import type { DkimKeySource } from '../mime/dkim-keys.js';
import type { SigningKeyRecord, Store } from '../store/store.js';
import type { ReturnPathDomains } from '../tracking/verp.js';
import type { KeySealer } from './domain-keys.js';
import { returnPathName, returnPathOwner } from './domain-records.js';

export interface SigningKeyLog {
  error(details: Record<string, unknown>, message: string): void;
}

export interface StoreDkimKeysOptions {
  store: Pick<Store, 'listSigningKeys' | 'signingKeysVersion'>;
  sealer: KeySealer;
  /** How often to look for changes, ms; default 5000. */
  intervalMs?: number;
  log?: SigningKeyLog;
  /** Open the private keys (default); false: only which domains are verified, for a process that does not sign. */
  signing?: boolean;
}

const NON_ASCII = /[^\u0020-\u007e]/;

/** A domain name as the store keeps it: lower case, A-labels. */
function asciiName(domain: string): string {
  const lower = domain.toLowerCase();
  return NON_ASCII.test(lower) ? domainToASCII(lower) : lower;
}

/** Where a workspace's keys for a domain are kept (ids and domain names hold no space). */
function ownerKey(workspaceId: string, domain: string): string {
  return `${workspaceId} ${domain}`;
}

/**
 * @example
 * const keys = new StoreDkimKeys({ store, sealer });
 * await keys.refresh();
 * keys.start();
 * signer = new MessageSigner(pool, composeKeySources(configKeys, keys));
 */
export class StoreDkimKeys implements DkimKeySource, ReturnPathDomains {
  readonly #o: Readonly<StoreDkimKeysOptions>;
  /** Opened keys by owner (`ownerKey(workspace, domain)`). */
  #byOwner = new Map<string, DkimKey[]>();
  /** Opened keys by key id, so a reload opens only new ones. */
  #opened = new Map<string, DkimKey>();
  /** Keys that would not open, by id: reported once. */
  readonly #failed = new Set<string>();
  /** Verified domains (ASCII, lower case) and the workspaces that verified each. */
  #verified = new Map<string, Set<string>>();
  #version: string | null = null;
  #running: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: StoreDkimKeysOptions) {
    this.#o = Object.freeze({ ...options });
  }

  keysFor(domain: string, workspaceId: string): readonly DkimKey[] {
    return this.#byOwner.get(ownerKey(workspaceId, asciiName(domain))) ?? [];
  }

  /** Whether `domain` is a verified sending domain of the workspace, as last loaded (whether or not its key opened). */
  verifies(domain: string, workspaceId: string): boolean {
    return this.#verified.get(asciiName(domain))?.has(workspaceId) === true;
  }

  returnPathDomainFor(domain: string, workspaceId: string): string | null {
    const name = asciiName(domain);
    return this.#verified.get(name)?.has(workspaceId) === true ? returnPathName(name) : null;
  }

  isReturnPathDomain(host: string): boolean {
    const owner = returnPathOwner(host);
    return owner !== null && this.#verified.has(asciiName(owner));
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
    const byOwner = new Map<string, DkimKey[]>();
    const verified = new Map<string, Set<string>>();
    for (const record of records) {
      const workspaces = verified.get(record.domain) ?? new Set<string>();
      verified.set(record.domain, workspaces.add(record.workspaceId));
      if (this.#o.signing === false) continue;
      const key = this.#opened.get(record.keyId) ?? this.#open(record);
      if (key === null) continue;
      opened.set(record.keyId, key);
      const owner = ownerKey(record.workspaceId, key.domain);
      const keys = byOwner.get(owner) ?? [];
      if (!keys.some((k) => k.selector === key.selector)) keys.push(key);
      byOwner.set(owner, keys);
    }
    this.#opened = opened;
    this.#byOwner = byOwner;
    this.#verified = verified;
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
