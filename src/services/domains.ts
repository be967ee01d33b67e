/**
 * Sending domains: add one (a DKIM key pair is made and sealed, the records to publish are
 * shown), verify its records in DNS, rotate its key, remove it — always within the caller's
 * workspace (a domain of another workspace is `not_found`). Reading needs scope `read`; every
 * change needs `full`.
 *
 * A domain is verified when DNS holds its active DKIM key, an SPF record including Herald's host,
 * and the return-path alias; DMARC and tracking are reported but advisory. A check that could not
 * ask DNS (timeout, SERVFAIL) concludes nothing and leaves the status as it was.
 *
 * Rotation: `rotateDomainKey` adds a pending key under a new selector, published beside the
 * active one. Once DNS shows it — at the next verify, or on `completeRotation` — it becomes the
 * signing key and the old one is retired (its private half erased; leave its record in DNS for a
 * few days, so mail signed before the switch still verifies).
 */
import { normaliseDomainName, normaliseSelector } from '../core/domain-name.js';
import { HeraldError, invalid } from '../core/errors.js';
import { UniqueViolation, type DomainKey, type DomainKeyAlgorithm, type NewDomainKey, type SendingDomain } from '../store/store.js';
import type { DomainSettings, Principal, ServiceDeps } from './deps.js';
import { checkRecords, DnsChecker, type RecordCheck, type RecordState } from './dns-check.js';
import { generateDomainKey } from './domain-keys.js';
import { domainRecords, recordTargets, type DnsRecord } from './domain-records.js';
import { requireScope } from './keys.js';
import { decodeCursor, encodeCursor, type Page } from './messages.js';

export const DOMAIN_ALGORITHMS: readonly DomainKeyAlgorithm[] = ['rsa', 'ed25519'];

export interface DomainInput {
  name: string;
  algorithm?: string | undefined;
  selector?: string | undefined;
}

export interface RotationInput {
  algorithm?: string | undefined;
  selector?: string | undefined;
}

/** A record to publish with what the last check found (`unchecked` before the first). */
export interface RecordStatus extends DnsRecord {
  state: RecordState | 'unchecked';
  found: string[];
  detail: string | null;
}

export interface DomainDetails {
  domain: SendingDomain;
  records: RecordStatus[];
}

export interface VerifyOutcome extends DomainDetails {
  /** The selector a verification switched signing to (its pending key was found in DNS). */
  activated: string | null;
}

/** Without settings (tests of other features), a domain's records point at localhost and nothing is sealed. */
function settingsOf(deps: ServiceDeps): DomainSettings {
  return deps.domains ?? { allowUnverified: false, operatorDomains: [], dns: {}, targets: recordTargets({ hostname: 'localhost' }) };
}

function sealerOf(deps: ServiceDeps) {
  const sealer = settingsOf(deps).sealer;
  if (!sealer) throw new HeraldError('invalid_config', { field: 'masterKey', reason: 'this process has no master key to seal DKIM keys with' });
  return sealer;
}

function notFound(id: string): HeraldError {
  return new HeraldError('not_found', { resource: 'domain', id });
}

function checkAlgorithm(input: string | undefined, fallback: DomainKeyAlgorithm): DomainKeyAlgorithm {
  if (input === undefined) return fallback;
  const algorithm = input.trim().toLowerCase();
  if (!DOMAIN_ALGORITHMS.includes(algorithm as DomainKeyAlgorithm)) throw invalid('algorithm', `"${input}" is not one of ${DOMAIN_ALGORITHMS.join(', ')}`);
  return algorithm as DomainKeyAlgorithm;
}

/** `herald202501`, then `herald202501b`, `…c`, when the domain used it already this month. */
function defaultSelector(now: Date, taken: ReadonlySet<string>): string {
  const base = `herald${now.toISOString().slice(0, 7).replace('-', '')}`;
  if (!taken.has(base)) return base;
  for (let i = 1; i < 26; i += 1) {
    const candidate = `${base}${String.fromCharCode(97 + i)}`;
    if (!taken.has(candidate)) return candidate;
  }
  return `${base}-${now.getTime().toString(36)}`;
}

function checkSelector(input: string | undefined, now: Date, taken: ReadonlySet<string>): string {
  if (input === undefined) return defaultSelector(now, taken);
  const checked = normaliseSelector(input);
  if (!checked.ok) throw invalid('selector', checked.reason);
  if (taken.has(checked.name)) throw invalid('selector', `"${checked.name}" is already used by this domain; pick another`);
  return checked.name;
}

/** A domain by id, or by name (ids never contain a dot; names always do). */
async function existing(deps: ServiceDeps, workspaceId: string, idOrName: string): Promise<SendingDomain> {
  let domain: SendingDomain | null = null;
  if (idOrName.includes('.')) {
    const name = normaliseDomainName(idOrName);
    if (name.ok) domain = await deps.store.findDomainByName(workspaceId, name.name);
  } else {
    domain = await deps.store.findDomain(workspaceId, idOrName);
  }
  if (!domain) throw notFound(idOrName);
  return domain;
}

async function newKey(
  deps: ServiceDeps,
  domain: Pick<SendingDomain, 'id' | 'workspaceId' | 'name'>,
  algorithm: DomainKeyAlgorithm,
  selector: string,
  state: 'active' | 'pending',
  now: string,
): Promise<NewDomainKey> {
  const sealer = sealerOf(deps);
  const generated = await generateDomainKey(algorithm);
  const id = deps.ids.next('domainKey');
  return {
    id, domainId: domain.id, workspaceId: domain.workspaceId, selector, algorithm, publicKey: generated.publicKey, state,
    createdAt: now, activatedAt: state === 'active' ? now : null, retiredAt: null,
    sealed: sealer.seal(generated.privatePem, { keyId: id, domain: domain.name, selector }),
  };
}

/** The records to publish now, each with the last check's finding for the same name and type. */
export function describeDomain(deps: ServiceDeps, domain: SendingDomain): DomainDetails {
  const checked = (domain.lastCheck?.records ?? []) as RecordCheck[];
  const records = domainRecords(domain, settingsOf(deps).targets).map((record): RecordStatus => {
    const last = checked.find((check) => check.type === record.type && check.name === record.name);
    return last ? { ...record, state: last.state, found: last.found, detail: last.detail } : { ...record, state: 'unchecked', found: [], detail: null };
  });
  return { domain, records };
}

async function keysChanged(deps: ServiceDeps): Promise<void> {
  await settingsOf(deps).keysChanged?.();
}

/** Adds a sending domain with a new key pair (RSA-2048 unless `algorithm: 'ed25519'`); pending until verified. */
export async function createDomain(deps: ServiceDeps, principal: Principal, input: DomainInput): Promise<DomainDetails> {
  requireScope(principal, 'full');
  const name = normaliseDomainName(input.name);
  if (!name.ok) throw invalid('name', name.reason);
  const algorithm = checkAlgorithm(input.algorithm, 'rsa');
  const now = deps.clock.now();
  const selector = checkSelector(input.selector, now, new Set());
  sealerOf(deps); // before the slow key generation: a process without a master key says so at once
  if (await deps.store.findDomainByName(principal.workspaceId, name.name)) throw new HeraldError('conflict', { resource: 'domain', id: name.name });
  const nowIso = now.toISOString();
  const domain: Omit<SendingDomain, 'keys'> = {
    id: deps.ids.next('domain'), workspaceId: principal.workspaceId, name: name.name, status: 'pending', verifiedAt: null,
    lastCheckedAt: null, lastCheck: null, createdAt: nowIso, updatedAt: nowIso,
  };
  const key = await newKey(deps, domain, algorithm, selector, 'active', nowIso);
  try {
    await deps.store.createDomain(domain, key);
  } catch (error) {
    if (error instanceof UniqueViolation) throw new HeraldError('conflict', { resource: 'domain', id: name.name });
    throw error;
  }
  const { sealed: _sealed, workspaceId: _workspace, ...publicKey } = key;
  return describeDomain(deps, { ...domain, keys: [publicKey] });
}

export async function getDomain(deps: ServiceDeps, principal: Principal, idOrName: string): Promise<DomainDetails> {
  requireScope(principal, 'read');
  return describeDomain(deps, await existing(deps, principal.workspaceId, idOrName));
}

export async function listDomains(deps: ServiceDeps, principal: Principal, query: { cursor?: string; limit?: number }): Promise<Page<DomainDetails>> {
  requireScope(principal, 'read');
  const limit = query.limit ?? 50;
  const rows = await deps.store.listDomains(principal.workspaceId, {
    limit: limit + 1,
    ...(query.cursor !== undefined ? { before: decodeCursor(query.cursor) } : {}),
  });
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data: data.map((domain) => describeDomain(deps, domain)), nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

const REQUIRED = ['dkim', 'spf', 'return_path'] as const;

/**
 * Looks every record up and records what was found. A pending key found in DNS becomes the
 * signing key. The domain is verified when the required records all pass, back to pending when
 * one is missing or wrong, and unchanged when DNS could not be asked.
 */
export async function verifyDomain(deps: ServiceDeps, principal: Principal, idOrName: string): Promise<VerifyOutcome> {
  requireScope(principal, 'full');
  const domain = await existing(deps, principal.workspaceId, idOrName);
  const settings = settingsOf(deps);
  const records = domainRecords(domain, settings.targets);
  const checks = await checkRecords(new DnsChecker(settings.dns), records, settings.targets);
  const pending = domain.keys.find((key) => key.state === 'pending');
  const nextCheck = checks.find((check) => check.purpose === 'dkim_next');
  const promote = pending !== undefined && nextCheck?.state === 'verified';
  // After a switch, the key that signs is the one just found; the old one's check no longer counts.
  const required = REQUIRED.map((purpose) => (purpose === 'dkim' && promote ? nextCheck : checks.find((check) => check.purpose === purpose)));
  const now = deps.clock.now().toISOString();
  let status = domain.status;
  let verifiedAt = domain.verifiedAt;
  if (required.every((check) => check?.state === 'verified')) {
    status = 'verified';
    verifiedAt = domain.status === 'verified' ? (domain.verifiedAt ?? now) : now;
  } else if (required.some((check) => check === undefined || check.state === 'missing' || check.state === 'mismatch')) {
    status = 'pending';
    verifiedAt = null;
  }
  const updated = await deps.store.recordDomainCheck(principal.workspaceId, domain.id, {
    status,
    verifiedAt,
    lastCheck: { checked_at: now, records: checks },
    ...(promote && pending ? { activateKeyId: pending.id } : {}),
    now,
  });
  if (!updated) throw notFound(idOrName);
  await keysChanged(deps);
  return { ...describeDomain(deps, updated), activated: promote && pending ? pending.selector : null };
}

/** Adds the next key, pending, under a new selector; publish its record beside the active one. */
export async function rotateDomainKey(deps: ServiceDeps, principal: Principal, idOrName: string, input: RotationInput): Promise<DomainDetails> {
  requireScope(principal, 'full');
  const domain = await existing(deps, principal.workspaceId, idOrName);
  const inFlight = domain.keys.find((key) => key.state === 'pending');
  if (inFlight) {
    throw new HeraldError('domain_state_conflict', {
      id: domain.id,
      reason: `selector ${inFlight.selector} is already pending; complete or cancel that rotation first`,
    });
  }
  const active = domain.keys.find((key) => key.state === 'active');
  const algorithm = checkAlgorithm(input.algorithm, active?.algorithm ?? 'rsa');
  const now = deps.clock.now();
  const selector = checkSelector(input.selector, now, new Set(domain.keys.map((key) => key.selector)));
  const key = await newKey(deps, domain, algorithm, selector, 'pending', now.toISOString());
  try {
    await deps.store.addDomainKey(key);
  } catch (error) {
    if (!(error instanceof UniqueViolation)) throw error;
    if (error.constraint === 'domain_keys.selector') throw invalid('selector', `"${selector}" is already used by this domain; pick another`);
    throw new HeraldError('domain_state_conflict', { id: domain.id, reason: 'another rotation started meanwhile; complete or cancel it first' });
  }
  return getDomain(deps, principal, domain.id);
}

function pendingKey(domain: SendingDomain): DomainKey {
  const pending = domain.keys.find((key) => key.state === 'pending');
  if (!pending) throw new HeraldError('domain_state_conflict', { id: domain.id, reason: 'no key rotation is pending (POST /v1/domains/{id}/rotate starts one)' });
  return pending;
}

/**
 * Switches signing to the pending key now. Its record must be visible in DNS — else receivers
 * would fail every signature — unless `force` is set.
 */
export async function completeRotation(deps: ServiceDeps, principal: Principal, idOrName: string, options: { force?: boolean } = {}): Promise<DomainDetails> {
  requireScope(principal, 'full');
  const domain = await existing(deps, principal.workspaceId, idOrName);
  const pending = pendingKey(domain);
  if (!options.force) {
    const settings = settingsOf(deps);
    const record = domainRecords(domain, settings.targets).find((r) => r.purpose === 'dkim_next');
    const [check] = record ? await checkRecords(new DnsChecker(settings.dns), [record], settings.targets) : [];
    if (!check || check.state !== 'verified') {
      throw new HeraldError('domain_key_not_published', {
        selector: pending.selector,
        name: record?.name ?? pending.selector,
        state: check ? `${check.state}: ${check.detail}` : 'not checked',
      });
    }
  }
  if (!(await deps.store.activateDomainKey(principal.workspaceId, domain.id, pending.id, deps.clock.now().toISOString()))) {
    throw new HeraldError('domain_state_conflict', { id: domain.id, reason: 'the pending key changed meanwhile; read the domain again' });
  }
  await keysChanged(deps);
  return getDomain(deps, principal, domain.id);
}

/** Abandons a pending rotation: its key is removed; the active key keeps signing. */
export async function cancelRotation(deps: ServiceDeps, principal: Principal, idOrName: string): Promise<DomainDetails> {
  requireScope(principal, 'full');
  const domain = await existing(deps, principal.workspaceId, idOrName);
  const pending = pendingKey(domain);
  if (!(await deps.store.removePendingDomainKey(principal.workspaceId, domain.id, pending.id))) {
    throw new HeraldError('domain_state_conflict', { id: domain.id, reason: 'the pending key changed meanwhile; read the domain again' });
  }
  return getDomain(deps, principal, domain.id);
}

/** Removes the domain and its keys: mail from it is refused from now on (unless allowed otherwise). */
export async function deleteDomain(deps: ServiceDeps, principal: Principal, idOrName: string): Promise<void> {
  requireScope(principal, 'full');
  const domain = await existing(deps, principal.workspaceId, idOrName);
  if (!(await deps.store.deleteDomain(principal.workspaceId, domain.id))) throw notFound(idOrName);
  await keysChanged(deps);
}
