/**
 * Wires unsubscribe links for `herald serve`: loads the secret key, decides the base URL links
 * point at (`--public-url`, else where the API listens) and warns once at start when mailbox
 * providers could not use the links (no public HTTPS URL) or when processes may not share a key.
 */
import type { HeraldConfig } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import type { UnsubscribeSettings } from '../services/unsubscribe.js';
import { loadSecretKey } from '../tracking/secret-key.js';
import type { UnsubscribeLinkSettings } from '../tracking/unsubscribe-links.js';

export interface UnsubscribeSetup {
  /** For the engine: how to write links into broadcast mail. */
  links: UnsubscribeLinkSettings;
  /** For the API: how to check the tokens of `/u/:token`. */
  settings: UnsubscribeSettings;
  /** Without `--public-url`, links point at the API's address once it listens (a port of 0 is chosen then). */
  listening: (apiUrl: string) => void;
}

export function setUpUnsubscribe(config: Readonly<HeraldConfig>, logger: Logger): UnsubscribeSetup {
  const secret = loadSecretKey({ dataDir: config.data, configured: config.secretKey });
  if (secret.generated) logger.info({ path: secret.path }, 'generated the secret key that signs unsubscribe links');
  if (secret.path !== null && config.databaseUrl !== undefined) {
    logger.warn(
      { path: secret.path },
      'unsubscribe links are signed with this data directory\'s key: give every Herald process the same --secret-key, or links made by one are refused by another',
    );
  }
  let base = config.publicUrl ?? localApiUrl(config.host, config.httpPort);
  const warnNoPublicUrl = () =>
    logger.warn(
      { listUnsubscribe: `${base}/u/…` },
      'one-click unsubscribe needs a public HTTPS URL: set --public-url; until then List-Unsubscribe points at the API\'s own address',
    );
  // A process with an API warns once it listens, naming the address links then point at.
  if (config.publicUrl === undefined && config.role === 'worker') warnNoPublicUrl();
  if (config.publicUrl !== undefined && new URL(config.publicUrl).protocol !== 'https:') {
    logger.warn({ publicUrl: config.publicUrl }, 'one-click unsubscribe (RFC 8058) needs an HTTPS --public-url; Gmail and Yahoo ignore plain http links');
  }
  return {
    links: { key: secret.key, baseUrl: () => base, footer: config.unsubscribeFooter, mailtoDomain: config.bounceDomain },
    settings: { key: secret.key },
    listening: (apiUrl) => {
      if (config.publicUrl !== undefined) return;
      base = apiUrl;
      warnNoPublicUrl();
    },
  };
}

/** Where this process's HTTP API answers on its own address (IPv6 hosts in brackets). */
export function localApiUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
