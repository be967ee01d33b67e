/**
 * Wires sending domains for the CLI's runtime and `herald serve`: the From-domain policy from the
 * settings, the master key that seals DKIM keys (`--master-key`, else `<data>/master.key`), and
 * for a delivering process the store-backed key source its signer reads (which also aligns return
 * paths with verified domains); a bounce listener that does not deliver gets the verified domains
 * alone.
 */
import { hostname } from 'node:os';
import type { HeraldConfig } from '../config/schema.js';
import { normaliseDomainName } from '../core/domain-name.js';
import type { Logger } from '../lib/logger.js';
import type { DomainSettings, ServiceDeps } from '../services/deps.js';
import { createKeySealer } from '../services/domain-keys.js';
import { recordTargets } from '../services/domain-records.js';
import { StoreDkimKeys } from '../services/domain-signing-keys.js';
import { loadSecretKey } from '../tracking/secret-key.js';

export const MASTER_KEY_FILE = 'master.key';

/** A process that only captures mail sends nothing out, so it accepts any From domain. */
function onlyCaptures(config: Readonly<HeraldConfig>): boolean {
  if (config.deliver === 'capture') return true;
  // `auto` without --relay captures, but only a process that also delivers knows that is where mail goes.
  return config.deliver === 'auto' && config.relay === undefined && config.role === 'all';
}

/** The domains of `--dkim-key domain:selector:path` specs, normalised; bad specs are left to the key loader. */
function operatorDomains(specs: readonly string[] | undefined): string[] {
  const names: string[] = [];
  for (const spec of specs ?? []) {
    const checked = normaliseDomainName(spec.trim().split(':')[0] ?? '');
    if (checked.ok && !names.includes(checked.name)) names.push(checked.name);
  }
  return names;
}

/** The policy, DNS and record targets from the settings; `herald serve` adds the sealer. */
export function domainSettings(config: Readonly<HeraldConfig>): DomainSettings {
  return {
    allowUnverified: config.allowUnverified || onlyCaptures(config),
    operatorDomains: operatorDomains(config.dkimKey),
    dns: { servers: config.dnsServers },
    targets: recordTargets({
      returnPathHost: config.returnPathHost,
      bounceDomain: config.bounceDomain,
      heloName: config.heloName,
      publicUrl: config.publicUrl,
      hostname: hostname(),
    }),
  };
}

export interface DomainKeysSetup {
  /** For a delivering process: the verified domains' keys, refreshed from the store; for a listener only: the verified domains. */
  keys: StoreDkimKeys | null;
  stop: () => void;
}

/**
 * Loads the master key into `deps.domains` and, when this process delivers, loads the domains'
 * signing keys (before the engine starts, so the first messages are signed) and keeps them fresh.
 */
export async function setUpDomainKeys(
  config: Readonly<HeraldConfig>,
  deps: ServiceDeps,
  logger: Logger,
  options: { delivery: boolean; returnPaths?: boolean },
): Promise<DomainKeysSetup> {
  const master = loadSecretKey({ dataDir: config.data, configured: config.masterKey, file: MASTER_KEY_FILE, field: 'masterKey' });
  if (master.generated) logger.info({ path: master.path }, 'generated the master key that seals DKIM keys of sending domains: back it up');
  if (master.path !== null && config.databaseUrl !== undefined) {
    logger.warn(
      { path: master.path },
      'DKIM keys of sending domains are sealed with this data directory\'s master key: give every Herald process the same --master-key, or keys sealed by one cannot sign in another',
    );
  }
  const sealer = createKeySealer(master.key);
  const watch = options.delivery || options.returnPaths === true;
  const keys = watch ? new StoreDkimKeys({ store: deps.store, sealer, log: logger.child({ component: 'domains' }), signing: options.delivery }) : null;
  deps.domains = {
    ...(deps.domains ?? domainSettings(config)),
    sealer,
    ...(keys ? { keysChanged: () => keys.refresh() } : {}),
  };
  if (keys) {
    await keys.refresh();
    keys.start();
  }
  return { keys, stop: () => keys?.stop() };
}
