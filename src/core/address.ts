/**
 * Email address rules applied at every intake (API, compat APIs, SMTP relay).
 *
 * Deliberately stricter than RFC 5322's full grammar: Herald accepts the dot-atom and simple
 * quoted local parts that real mailbox providers accept, internationalised (UTF-8) local parts
 * and domains, and refuses anything that could smuggle a header or a second recipient.
 */
import { HeraldError } from './errors.js';

export interface Mailbox {
  /** The bare address, `local@domain`, with the domain lower-cased. */
  address: string;
  /** Display name, when one was given (`"Ann" <ann@x.org>` or `{email, name}`). */
  name?: string;
}

const LOCAL_ATOM = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const LOCAL_QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const DOMAIN_LABEL = /^[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;
const ADDRESS_LITERAL = /^\[(\d{1,3}\.){3}\d{1,3}\]$/;
const LINE_BREAK = /[\r\n]/;

/** True when the value contains CR or LF, which would end a header line early. */
export function hasLineBreak(value: string): boolean {
  return LINE_BREAK.test(value);
}

/** Throws `header_injection` naming `field` when a header value carries CR or LF. */
export function assertHeaderSafe(field: string, value: string): void {
  if (hasLineBreak(value)) throw new HeraldError('header_injection', { field });
}

/** Checks the shape of a bare address (`local@domain`). */
export function isValidAddress(address: string): boolean {
  if (address.length > 320 || hasLineBreak(address)) return false;
  const at = address.lastIndexOf('@');
  if (at < 1 || at === address.length - 1) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (Buffer.byteLength(local) > 64) return false;
  if (!LOCAL_ATOM.test(local) && !LOCAL_QUOTED.test(local)) return false;
  if (ADDRESS_LITERAL.test(domain)) return true;
  if (Buffer.byteLength(domain) > 253) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  return labels.every((label) => DOMAIN_LABEL.test(label)) && !/^\d+$/.test(labels.at(-1) ?? '');
}

/** Lower-cases the domain part; the local part is case-sensitive by the RFC and kept. */
export function normaliseAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at + 1) + address.slice(at + 1).toLowerCase();
}

/**
 * Parses `addr@x.org`, `Name <addr@x.org>` or `"Name, Jr." <addr@x.org>`: the forms users put in
 * a `from` or `to` string. Throws `invalid_address` / `header_injection` naming `field`.
 */
export function parseMailbox(field: string, input: string): Mailbox {
  assertHeaderSafe(field, input);
  const trimmed = input.trim();
  const angle = /^(.*?)\s*<([^<>]+)>$/.exec(trimmed);
  let address: string;
  let name: string | undefined;
  if (angle) {
    address = (angle[2] ?? '').trim();
    const rawName = (angle[1] ?? '').trim();
    name = rawName.startsWith('"') && rawName.endsWith('"') && rawName.length >= 2
      ? rawName.slice(1, -1).replace(/\\(.)/g, '$1')
      : rawName;
    if (name === '') name = undefined;
  } else {
    address = trimmed;
  }
  if (!isValidAddress(address)) throw new HeraldError('invalid_address', { field, value: input });
  return name === undefined ? { address: normaliseAddress(address) } : { address: normaliseAddress(address), name };
}
