/**
 * DKIM keys from configuration: `--dkim-key domain:selector:/path/to/key.pem`, repeatable, so a
 * domain may have an RSA and an Ed25519 key (dual signatures) or a new selector beside the old
 * one. The algorithm is read from the key itself. Sending domains managed through the API keep
 * their keys in the store instead; both answer the same question: which keys sign mail from d=.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HeraldError } from '../core/errors.js';
import type { DkimKey } from './dkim-sign.js';

/**
 * Which keys sign mail of workspace `workspaceId` whose From domain is `domain` (none: send
 * unsigned). A sending domain's keys sign only the mail of the workspace that verified it;
 * configured keys sign every workspace's (the operator vouches for their domains).
 */
export interface DkimKeySource {
  keysFor(domain: string, workspaceId: string): readonly DkimKey[];
}

const SPEC = /^([^:]+):([^:]+):(.+)$/;

export function loadDkimKeys(specs: readonly string[]): DkimKeySource {
  const byDomain = new Map<string, DkimKey[]>();
  specs.forEach((spec, i) => {
    const field = `dkimKey[${i}]`;
    const match = SPEC.exec(spec.trim());
    if (!match) throw new HeraldError('invalid_config', { field, reason: `"${spec}" is not domain:selector:/path/to/key.pem` });
    const [, domain = '', selector = '', path = ''] = match;
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      throw new HeraldError('invalid_config', { field, reason: `cannot read ${path}: ${(error as Error).message}` });
    }
    let type: string | undefined;
    try {
      const key = createPrivateKey(pem);
      type = key.asymmetricKeyType;
      // Workers take PKCS#8 PEM whatever format the file used.
      pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    } catch (error) {
      throw new HeraldError('invalid_config', { field, reason: `${path} is not a private key: ${(error as Error).message}` });
    }
    if (type !== 'rsa' && type !== 'ed25519') throw new HeraldError('invalid_config', { field, reason: `${path} is a ${type} key; DKIM takes rsa or ed25519` });
    const key: DkimKey = { domain: domain.toLowerCase(), selector, algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', privateKey: pem };
    byDomain.set(key.domain, [...(byDomain.get(key.domain) ?? []), key]);
  });
  // Server-wide: the same keys whatever the workspace.
  return { keysFor: (domain) => byDomain.get(domain.toLowerCase()) ?? [] };
}

/**
 * Several sources as one: a domain's keys from each, in the order given, a selector once (the
 * first source's key wins). Configured keys and sending domains' keys sign side by side.
 */
export function composeKeySources(...sources: DkimKeySource[]): DkimKeySource {
  return {
    keysFor(domain, workspaceId) {
      const keys: DkimKey[] = [];
      for (const source of sources) {
        for (const key of source.keysFor(domain, workspaceId)) if (!keys.some((k) => k.selector === key.selector)) keys.push(key);
      }
      return keys;
    },
  };
}
