/**
 * Which From domains a workspace may send from: its verified sending domains, and domains the
 * operator signs with `--dkim-key` (configured keys are vouched for by whoever runs Herald). A
 * process that only captures mail, or runs with `--allow-unverified`, accepts any. Checked at
 * acceptance by every intake (API, batches, SMTP relay), so nothing unverified is queued.
 */
import { normaliseDomainName } from '../core/domain-name.js';
import { HeraldError } from '../core/errors.js';
import type { Principal, ServiceDeps } from './deps.js';

/** The domain of an address (after the last `@`), or '' when it has none. */
export function domainOfAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
}

/**
 * Refuses mail from `address` unless its domain may send: throws `domain_not_verified` (422)
 * naming `field` and what to do about it. Returns the domain approved, normalised (A-labels);
 * null when any domain may send (`--allow-unverified`, capture) and this one is not a domain name.
 */
export async function requireSendingDomain(deps: ServiceDeps, principal: Principal, address: string, field = 'from'): Promise<string | null> {
  const settings = deps.domains;
  const raw = domainOfAddress(address);
  const checked = normaliseDomainName(raw);
  if (settings?.allowUnverified) return checked.ok ? checked.name : null;
  if (!checked.ok) throw new HeraldError('domain_not_verified', { field, domain: raw === '' ? '(no domain)' : raw, reason: 'is not a domain Herald can send from' });
  if (settings?.operatorDomains.includes(checked.name)) return checked.name;
  const domain = await deps.store.findDomainByName(principal.workspaceId, checked.name);
  if (domain?.status === 'verified') return checked.name;
  throw new HeraldError('domain_not_verified', {
    field,
    domain: checked.name,
    reason: domain
      ? `is not verified yet: publish its DNS records (GET /v1/domains/${domain.id}) and POST /v1/domains/${domain.id}/verify`
      : 'is not a sending domain of this workspace: add it with POST /v1/domains, publish its DNS records and verify it',
  });
}
