/**
 * The DNS records a sending domain publishes, and where they point. `recordTargets` is the one
 * place that decides the hosts (return path, SPF include, tracking) from the settings, so aligning
 * them with the bounce listener or the tracking host later is one change here.
 *
 * For `example.com` with the DKIM selector `herald202501` and targets on `mail.herald.net`:
 *   herald202501._domainkey.example.com  TXT    v=DKIM1; k=rsa; p=MIIB…      (required)
 *   example.com                          TXT    v=spf1 include:mail.herald.net ~all   (required)
 *   bounces.example.com                  CNAME  mail.herald.net              (required: return path)
 *   _dmarc.example.com                   TXT    v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com
 *   track.example.com                    CNAME  the tracking host            (for branded links)
 * Pure: no I/O.
 */
import type { DomainKey, SendingDomain } from '../store/store.js';
import { dkimRecordValue } from './domain-keys.js';

export type RecordPurpose = 'dkim' | 'dkim_next' | 'spf' | 'dmarc' | 'return_path' | 'tracking';
export type RecordType = 'TXT' | 'CNAME';

/** Where a domain's records point. */
export interface RecordTargets {
  /** What `bounces.<domain>` is an alias of: a host with an MX to Herald's bounce listener and an SPF record. */
  returnPathHost: string;
  /** What the domain's SPF record includes: the name whose SPF lists Herald's sending addresses. */
  spfInclude: string;
  /** What `track.<domain>` is an alias of: where tracked links and the open pixel are served. */
  trackingHost: string;
}

/** The settings the targets come from (`--return-path-host`, `--bounce-domain`, `--helo-name`, `--public-url`). */
export interface RecordTargetSettings {
  returnPathHost?: string | undefined;
  bounceDomain?: string | undefined;
  heloName?: string | undefined;
  publicUrl?: string | undefined;
  /** Last resort: this machine's host name. */
  hostname: string;
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

const bare = (host: string): string => host.trim().toLowerCase().replace(/\.$/, '');

/**
 * The hosts records point at. The return path goes to the bounce domain when there is one (its MX
 * reaches the bounce listener), else to the EHLO name (which should have the sending address's
 * reverse DNS), else the public URL's host; the SPF record includes the same host, which must
 * publish `v=spf1 ip4:<Herald's sending addresses> -all`. Tracking uses the public URL's host.
 */
export function recordTargets(settings: RecordTargetSettings): RecordTargets {
  const publicHost = hostOf(settings.publicUrl);
  const returnPathHost = bare(settings.returnPathHost ?? settings.bounceDomain ?? settings.heloName ?? publicHost ?? settings.hostname);
  return { returnPathHost, spfInclude: returnPathHost, trackingHost: bare(publicHost ?? returnPathHost) };
}

const RETURN_PATH_LABEL = 'bounces.';

/** The envelope (MAIL FROM) domain of mail from `domain`: SPF-aligned with it, bounces come back here. */
export function returnPathName(domain: string): string {
  return `${RETURN_PATH_LABEL}${domain}`;
}

/** The sending domain whose return-path domain `host` is (`bounces.example.com` → `example.com`); null for any other name. */
export function returnPathOwner(host: string): string | null {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  return name.startsWith(RETURN_PATH_LABEL) && name.length > RETURN_PATH_LABEL.length ? name.slice(RETURN_PATH_LABEL.length) : null;
}

export function trackingName(domain: string): string {
  return `track.${domain}`;
}

export function dkimName(domain: string, selector: string): string {
  return `${selector}._domainkey.${domain}`;
}

/** One record to publish. */
export interface DnsRecord {
  purpose: RecordPurpose;
  type: RecordType;
  name: string;
  value: string;
  /** Needed for the domain to be verified; the others are advice. */
  required: boolean;
  /** The selector of a DKIM record. */
  selector?: string;
  note: string;
}

function dkimRecord(domain: string, key: DomainKey, purpose: 'dkim' | 'dkim_next'): DnsRecord {
  return {
    purpose,
    type: 'TXT',
    name: dkimName(domain, key.selector),
    value: dkimRecordValue(key.algorithm, key.publicKey),
    required: purpose === 'dkim',
    selector: key.selector,
    note:
      purpose === 'dkim'
        ? 'signs mail from this domain; long values go in several strings of one TXT record (the zone line shows how)'
        : 'the next key: publish it beside the current one; verify switches to it once it is visible',
  };
}

/** The records `domain` should publish now: its active key, a pending key during a rotation, SPF, return path, DMARC, tracking. */
export function domainRecords(domain: Pick<SendingDomain, 'name' | 'keys'>, targets: RecordTargets): DnsRecord[] {
  const records: DnsRecord[] = [];
  const active = domain.keys.find((key) => key.state === 'active');
  const pending = domain.keys.find((key) => key.state === 'pending');
  if (active) records.push(dkimRecord(domain.name, active, 'dkim'));
  if (pending) records.push(dkimRecord(domain.name, pending, 'dkim_next'));
  records.push(
    {
      purpose: 'spf',
      type: 'TXT',
      name: domain.name,
      value: `v=spf1 include:${targets.spfInclude} ~all`,
      required: true,
      note: `one SPF record per name: if ${domain.name} has one already, add include:${targets.spfInclude} to it`,
    },
    {
      purpose: 'return_path',
      type: 'CNAME',
      name: returnPathName(domain.name),
      value: targets.returnPathHost,
      required: true,
      note: 'the envelope sender domain: aligns SPF with the From domain and brings bounces back to Herald',
    },
    {
      purpose: 'dmarc',
      type: 'TXT',
      name: `_dmarc.${domain.name}`,
      value: `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain.name}`,
      required: false,
      note: 'advisory, but Gmail and Yahoo require a DMARC record of bulk senders: start at p=none, send rua reports to a mailbox you read',
    },
    {
      purpose: 'tracking',
      type: 'CNAME',
      name: trackingName(domain.name),
      value: targets.trackingHost,
      required: false,
      note: 'optional: an alias of the tracking host, for tracked links and the open pixel under your own domain (needs a TLS certificate for it where Herald is served)',
    },
  );
  return records;
}

/** TXT values longer than 255 bytes are published as several strings of one record (RFC 7208 §3.3, RFC 6376 §3.6.2.2). */
export function txtStrings(value: string): string[] {
  const strings: string[] = [];
  for (let at = 0; at < value.length; at += 255) strings.push(value.slice(at, at + 255));
  return strings.length > 0 ? strings : [''];
}

/** The record as a zone-file line (BIND syntax). */
export function zoneLine(record: Pick<DnsRecord, 'type' | 'name' | 'value'>): string {
  if (record.type === 'CNAME') return `${record.name}. 3600 IN CNAME ${record.value}.`;
  const strings = txtStrings(record.value).map((part) => `"${part.replace(/["\\]/g, '\\$&')}"`);
  return `${record.name}. 3600 IN TXT ${strings.length > 1 ? `( ${strings.join(' ')} )` : strings[0]}`;
}
