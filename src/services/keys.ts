/**
 * API keys: creation (the secret is shown once; only its SHA-256 is kept), listing, revocation,
 * and authentication by secret (Bearer), by id and secret (Basic, SMTP AUTH) or by the SMTP
 * client's source network (SMTP-IP keys for legacy senders that cannot authenticate).
 *
 * Secrets are 32 random bytes, so an unsalted SHA-256 is a sufficient, indexable hash.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { HeraldError, invalid } from '../core/errors.js';
import { KEY_SCOPES, type ApiKey, type KeyScope } from '../core/types.js';
import type { ApiKeyRecord } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { resolveWorkspace } from './workspaces.js';

export interface CreateKeyInput {
  workspace?: string;
  name: string;
  scope?: string;
  smtpNetworks?: string[];
}

export interface CreatedKey {
  key: ApiKey;
  /** Shown once; Herald keeps only its hash. */
  secret: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Parses `10.1.2.0/24`, `2001:db8::/32` or a single address; throws naming the field. */
export function parseNetwork(field: string, cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', prefixText] = cidr.trim().split('/');
  const version = isIP(address);
  if (version === 0) throw invalid(field, `"${cidr}" is not an IP address or CIDR network`);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw invalid(field, `"${cidr}" has a prefix length outside 0-${max}`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export async function createKey(deps: ServiceDeps, input: CreateKeyInput): Promise<CreatedKey> {
  const name = input.name.trim();
  if (name === '' || name.length > 200) throw invalid('name', 'must be 1 to 200 characters');
  const scope = (input.scope ?? 'full') as KeyScope;
  if (!KEY_SCOPES.includes(scope)) throw invalid('scope', `must be one of ${KEY_SCOPES.join(', ')}`);
  const smtpNetworks = (input.smtpNetworks ?? []).map((cidr, i) => {
    const network = parseNetwork(`smtp_networks[${i}]`, cidr);
    return `${network.address}/${network.prefix}`;
  });
  if (smtpNetworks.length > 0 && scope === 'read') throw invalid('scope', 'an SMTP-IP key must be able to send (full or send)');
  const workspace = await resolveWorkspace(deps, input.workspace ?? 'default');
  const secret = `hrld_${deps.ids.secret()}`;
  const key: ApiKeyRecord = {
    id: deps.ids.next('apiKey'),
    workspaceId: workspace.id,
    name,
    scope,
    smtpNetworks,
    createdAt: deps.clock.now().toISOString(),
    revokedAt: null,
    secretHash: hashSecret(secret),
  };
  await deps.store.insertApiKey(key);
  const { secretHash: _hash, ...publicKey } = key;
  return { key: publicKey, secret };
}

export async function listKeys(deps: ServiceDeps, workspace?: string): Promise<ApiKey[]> {
  if (workspace === undefined) return deps.store.listApiKeys();
  return deps.store.listApiKeys((await resolveWorkspace(deps, workspace)).id);
}

export async function revokeKey(deps: ServiceDeps, id: string): Promise<void> {
  const revoked = await deps.store.revokeApiKey(id, deps.clock.now().toISOString());
  if (!revoked) throw new HeraldError('not_found', { resource: 'active key', id });
}

function principalOf(key: ApiKeyRecord): Principal {
  return { workspaceId: key.workspaceId, keyId: key.id, scope: key.scope };
}

/** Authenticates a Bearer secret. */
export async function authenticateSecret(deps: ServiceDeps, secret: string): Promise<Principal> {
  const key = await deps.store.findApiKeyBySecretHash(hashSecret(secret));
  if (!key || key.revokedAt !== null) throw new HeraldError('invalid_api_key');
  return principalOf(key);
}

/** Authenticates a key id and its secret (HTTP Basic, SMTP AUTH), in constant time. */
export async function authenticateIdAndSecret(deps: ServiceDeps, id: string, secret: string): Promise<Principal> {
  const key = await deps.store.findApiKey(id);
  const expected = Buffer.from(key?.secretHash ?? hashSecret('absent key'), 'hex');
  const given = Buffer.from(hashSecret(secret), 'hex');
  const matches = timingSafeEqual(expected, given);
  if (!key || !matches || key.revokedAt !== null) throw new HeraldError('invalid_api_key');
  return principalOf(key);
}

/** Throws `insufficient_scope` unless the principal may do `needed` (send or read; full: only a full key). */
export function requireScope(principal: Principal, needed: 'send' | 'read' | 'full'): void {
  if (principal.scope !== 'full' && principal.scope !== needed) {
    throw new HeraldError('insufficient_scope', { scope: principal.scope, needed });
  }
}

/**
 * Finds the SMTP-IP key whose networks contain `remoteAddress`. The most specific network
 * wins, so a /32 for one host overrides a /16 for its office. Keys are read from the store on
 * each call: the CLI may add or revoke keys while the server runs.
 */
export async function keyForSmtpClient(deps: ServiceDeps, remoteAddress: string): Promise<Principal | null> {
  const address = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  let best: { key: ApiKeyRecord; prefix: number } | null = null;
  for (const key of await deps.store.listSmtpNetworkKeys()) {
    for (const cidr of key.smtpNetworks) {
      const network = parseNetwork('smtp_networks', cidr);
      if (network.family !== family) continue;
      const list = new BlockList();
      list.addSubnet(network.address, network.prefix, network.family);
      if (list.check(address, family) && (best === null || network.prefix > best.prefix)) best = { key, prefix: network.prefix };
    }
  }
  return best ? principalOf(best.key) : null;
}
