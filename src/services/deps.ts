/** What every service needs, passed in once at start-up (no module-level singletons). */
import type { IdSource } from '../core/ids.js';
import type { RetryPolicy } from '../core/retry-policy.js';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';
import type { TrackingOptions } from '../core/types.js';
import type { AddressLookup } from '../events/webhooks/endpoint-guard.js';
import type { DnsSettings } from './dns-check.js';
import type { KeySealer } from './domain-keys.js';
import type { RecordTargets } from './domain-records.js';

export interface Limits {
  /** Most recipients (to+cc+bcc) per API submission. */
  apiMaxRecipients: number;
  /** Most recipients per SMTP transaction. */
  smtpMaxRecipients: number;
  /** A single submission with more recipients than this becomes a batch (progress, pause, export). */
  batchThreshold?: number;
}

export interface ServiceDeps {
  store: Store;
  ids: IdSource;
  clock: Clock;
  limits: Limits;
  retry: RetryPolicy;
  /** Called after new work is committed, so an idle engine in this process wakes at once. */
  wake?: () => void;
  /** Where webhook endpoints may point: none internal unless allowed. */
  webhooks?: WebhookGuardSettings;
  /** Sending domains: the From-domain policy, the key that seals DKIM keys, DNS for checks. Absent: every From domain must be verified. */
  domains?: DomainSettings;
  /** Open/click tracking: what a submission gets when it does not say; absent: no --public-url, tracking refused. */
  tracking?: { defaults: TrackingOptions };
}

/** Sending domains' settings (services/domains.ts, services/sending-domain-policy.ts). */
export interface DomainSettings {
  /** Accept mail from any From domain: `--allow-unverified`, or a process that only captures mail. */
  allowUnverified: boolean;
  /** From domains the operator signs with `--dkim-key` (lower-case A-labels): vouched for without a verified sending domain. */
  operatorDomains: readonly string[];
  /** Seals new DKIM private keys (the master key); absent: sending domains cannot be added or rotated here. */
  sealer?: KeySealer;
  /** Where verification asks (`--dns-servers`) and how long it waits. */
  dns: DnsSettings;
  /** The hosts the published records point at. */
  targets: RecordTargets;
  /** Called after a write that changes which keys sign (verify, rotation, delete), so this process's signers reload at once. */
  keysChanged?: () => Promise<void>;
}

/** The SSRF guard's settings for webhook endpoints (events/webhooks/endpoint-guard.ts). */
export interface WebhookGuardSettings {
  /** Internal networks endpoints may resolve to (`--webhook-allowlist`, CIDRs). */
  allowlist: readonly string[];
  /** Resolves endpoint hosts; the system resolver when absent. */
  lookup?: AddressLookup;
}

/** Who is calling: the workspace and key an authenticated request acts for. */
export interface Principal {
  workspaceId: string;
  keyId: string;
  scope: 'full' | 'send' | 'read';
}
