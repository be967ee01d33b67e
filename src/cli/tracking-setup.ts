/**
 * Wires open/click tracking and frequency caps for `herald serve`: the engine's tracking links
 * (signed with the same secret key as unsubscribe links, pointing at `--public-url`) and the
 * server's frequency cap, both from the validated configuration.
 */
import type { HeraldConfig } from '../config/schema.js';
import { MAX_CAP_WINDOW_SECONDS, parseFrequencyCap, type FrequencyCap } from '../core/frequency-cap.js';
import type { TrackingLinkSettings } from '../tracking/tracking-links.js';

/** The engine's tracking links; none without `--public-url` (then no submission can ask for tracking). */
export function trackingLinksOf(config: Readonly<HeraldConfig>, key: Uint8Array): TrackingLinkSettings | undefined {
  return config.publicUrl === undefined ? undefined : { key, baseUrl: config.publicUrl };
}

/** The server's cap (`--frequency-cap`, `--frequency-cap-policy`), or null. */
export function frequencyCapOf(config: Readonly<HeraldConfig>): FrequencyCap | null {
  if (config.frequencyCap === undefined) return null;
  const parsed = parseFrequencyCap(config.frequencyCap, config.frequencyCapPolicy);
  return 'cap' in parsed ? parsed.cap : null;
}

/** Ledger rows older than this are no use to any cap. */
export function sendLedgerHorizon(now: Date): string {
  return new Date(now.getTime() - MAX_CAP_WINDOW_SECONDS * 1000).toISOString();
}
