/** What every service needs, passed in once at start-up (no module-level singletons). */
import type { IdSource } from '../core/ids.js';
import type { RetryPolicy } from '../core/retry-policy.js';
import type { Clock } from '../lib/clock.js';
import type { Store } from '../store/store.js';
import type { AddressLookup } from '../events/webhooks/endpoint-guard.js';

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
