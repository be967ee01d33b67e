/**
 * Domain names and DKIM selectors as Herald keeps them: lower-case A-labels (an internationalised
 * name in its punycode form), without a trailing dot. Pure: says what is wrong, throws nothing.
 */
import { domainToASCII } from 'node:url';

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** DKIM selectors (RFC 6376 §3.1) are dot-separated labels; underscores are common in practice. */
const SELECTOR_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * A sending domain's name, normalised: `Example.COM.` → `example.com`, `bücher.de` → `xn--bcher-kva.de`.
 * At least two labels, each a hostname label (RFC 1123), 253 characters in all, a top-level label
 * that is not all digits (an IP address is not a domain).
 *
 * @example
 * normaliseDomainName(' Mail.Example.com. ') // { ok: true, name: 'mail.example.com' }
 */
export function normaliseDomainName(input: string): NameCheck {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed === '') return { ok: false, reason: 'must not be empty' };
  if (/[\s@/:\\]/.test(trimmed)) return { ok: false, reason: `"${input}" is not a domain name (give the bare name, e.g. example.com)` };
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (ascii === '') return { ok: false, reason: `"${input}" is not a valid domain name` };
  if (ascii.length > 253) return { ok: false, reason: 'must be at most 253 characters' };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: `"${input}" needs at least two labels (e.g. example.com)` };
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) return { ok: false, reason: `"${input}" has an invalid label "${bad}" (letters, digits and inner hyphens, 1-63 characters)` };
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return { ok: false, reason: `"${input}" is an address, not a domain name` };
  return { ok: true, name: ascii };
}

/** A DKIM selector, lower-cased: one or more labels of letters, digits, `-` and `_`, 63 characters at most each. */
export function normaliseSelector(input: string): NameCheck {
  const selector = input.trim().toLowerCase();
  if (selector === '') return { ok: false, reason: 'must not be empty' };
  if (selector.length > 100) return { ok: false, reason: 'must be at most 100 characters' };
  if (!selector.split('.').every((label) => SELECTOR_LABEL.test(label))) {
    return { ok: false, reason: `"${input}" is not a selector (DNS labels of letters, digits, - and _)` };
  }
  return { ok: true, name: selector };
}
