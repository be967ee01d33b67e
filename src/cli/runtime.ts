/**
 * The composition root shared by every CLI command: resolves the configuration, opens the store
 * and builds the services' dependencies. Nothing else in Herald constructs these.
 */
import { loadConfig, type ConfigSources } from '../config/load.js';
import type { HeraldConfig } from '../config/schema.js';
import { createIdSource } from '../lib/random-ids.js';
import { systemClock } from '../lib/clock.js';
import type { ServiceDeps } from '../services/deps.js';
import { openStore } from '../store/open-store.js';
import { domainSettings } from './domain-setup.js';

export interface Runtime {
  config: Readonly<HeraldConfig>;
  deps: ServiceDeps;
  close: () => Promise<void>;
}

export async function openRuntime(sources: ConfigSources): Promise<Runtime> {
  const config = loadConfig(sources);
  const store = await openStore(config);
  const deps: ServiceDeps = {
    store,
    ids: createIdSource(),
    clock: systemClock,
    limits: { apiMaxRecipients: config.apiMaxRecipients, smtpMaxRecipients: config.smtpMaxRecipients, batchThreshold: config.batchThreshold },
    retry: { baseSeconds: config.retryBase, maxDelaySeconds: config.retryMaxDelay, maxAgeSeconds: config.maxMessageAge },
    webhooks: { allowlist: config.webhookAllowlist ?? [] },
    domains: domainSettings(config),
    // Tracking links need an address the world reaches: without --public-url, requests for it are refused.
    ...(config.publicUrl !== undefined
      ? { tracking: { defaults: { opens: (config.tracking ?? []).includes('opens'), clicks: (config.tracking ?? []).includes('clicks') } } }
      : {}),
  };
  return { config, deps, close: () => store.close() };
}
