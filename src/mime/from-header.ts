/**
 * The one reading of a message's From header, used where relayed mail is accepted (the From
 * domain must be a verified sending domain of the workspace; the domain approved is kept with the
 * content) and where it is signed when no approved domain was kept (content accepted before it
 * was): two readings could disagree, and a From header written to make them disagree would get
 * mail signed for a domain nobody approved.
 *
 * Read by RFC 5322's grammar (quoted strings, comments, angle addresses) and strict about what
 * could be read two ways: exactly one From header, holding exactly one mailbox; no groups or
 * source routes; no unquoted `@` in a display name (`victim@bank.com <me@mine.com>`), unless the
 * display name is the address itself. Encoded words (RFC 2047) need no rule of their own: a valid
 * one is an atom, and one holding raw specials is refused like any other stray special.
 *
 * Pure: no I/O; says what is wrong, throws nothing.
 */
import { normaliseDomainName } from '../core/domain-name.js';

/** What a header block's From header says. */
export type FromHeader =
  /** One mailbox: its address as written (`local@domain`) and its domain, normalised (A-labels). */
  | { kind: 'mailbox'; address: string; domain: string }
  /** No From header at all. */
  | { kind: 'none' }
  /** A From header that cannot be read as one mailbox of a domain; `reason` says why. */
  | { kind: 'invalid'; reason: string };

type Token = { type: 'word'; text: string } | { type: 'special'; text: string };

const FROM_FIELD = /^From[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)/gim;
const SPECIALS = new Set(['<', '>', '@', ',', ':', ';']);
const ENDS_ATOM = /[\s()<>@,;:"[\]\\]/;

/** Every From header's value in a header block, unfolded, in order (a `From :` variant counts too). */
export function fromHeaderValues(head: string): string[] {
  return [...head.matchAll(FROM_FIELD)].map((match) => (match[1] ?? '').replace(/\r?\n[ \t]+/g, ' ').trim());
}

/** Splits a header value into words and specials, dropping comments and folding whitespace. */
function tokenize(value: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value.charAt(i);
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '(') {
      let depth = 0;
      for (; i < value.length; i += 1) {
        const d = value.charAt(i);
        if (d === '\\') i += 1;
        else if (d === '(') depth += 1;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth !== 0) return 'has an unclosed comment';
      i += 1;
    } else if (c === '"') {
      let text = '"';
      for (i += 1; i < value.length && value.charAt(i) !== '"'; i += 1) {
        if (value.charAt(i) === '\\') text += value.charAt(i++);
        text += value.charAt(i);
      }
      if (i >= value.length) return 'has an unclosed quoted string';
      tokens.push({ type: 'word', text: `${text}"` });
      i += 1;
    } else if (c === '[') {
      const end = value.indexOf(']', i);
      if (end < 0) return 'has an unclosed domain literal';
      tokens.push({ type: 'word', text: value.slice(i, end + 1) });
      i = end + 1;
    } else if (SPECIALS.has(c)) {
      tokens.push({ type: 'special', text: c });
      i += 1;
    } else if (c === ')' || c === ']' || c === '\\') {
      return `has a stray "${c}"`;
    } else {
      let end = i + 1;
      while (end < value.length && !ENDS_ATOM.test(value.charAt(end))) end += 1;
      tokens.push({ type: 'word', text: value.slice(i, end) });
      i = end;
    }
  }
  return tokens;
}

/** `local @ domain` as exactly three tokens, or null. */
function addrSpec(tokens: readonly Token[]): { local: string; domain: string } | null {
  const [local, at, domain] = tokens;
  if (tokens.length !== 3 || local?.type !== 'word' || at?.text !== '@' || domain?.type !== 'word') return null;
  return { local: local.text, domain: domain.text };
}

/**
 * The one mailbox of a From header value (`Ann <ann@x.org>`, `"Doe, Ann" <ann@x.org>`,
 * `ann@x.org (Ann)`), or why the value is not one.
 *
 * @example
 * parseFromMailbox('"victim@bank.com" <me@mine.com>') // { ok: true, address: 'me@mine.com', domain: 'mine.com' }
 * parseFromMailbox('victim@bank.com <me@mine.com>')   // { ok: false, reason: 'has an unquoted "@" in its display name …' }
 */
export function parseFromMailbox(value: string): { ok: true; address: string; domain: string } | { ok: false; reason: string } {
  const tokens = tokenize(value);
  if (typeof tokens === 'string') return { ok: false, reason: tokens };
  if (tokens.length === 0) return { ok: false, reason: 'is empty' };
  if (tokens.some((t) => t.text === ':' || t.text === ';')) return { ok: false, reason: 'is a group or has a source route; give one mailbox' };
  const elements: Token[][] = [[]];
  for (const t of tokens) {
    if (t.text === ',') elements.push([]);
    else elements.at(-1)?.push(t);
  }
  const mailboxes = elements.filter((e) => e.length > 0);
  if (mailboxes.length !== 1) return { ok: false, reason: `holds ${mailboxes.length} addresses; Herald sends mail from one` };
  const element = mailboxes[0] ?? [];
  const open = element.findIndex((t) => t.text === '<');
  let spec: { local: string; domain: string } | null;
  if (open < 0) {
    spec = addrSpec(element);
  } else {
    const close = element.findIndex((t) => t.text === '>');
    if (close !== element.length - 1 || element.filter((t) => t.text === '<' || t.text === '>').length !== 2) {
      return { ok: false, reason: 'is not one display name and one <address>' };
    }
    spec = addrSpec(element.slice(open + 1, close));
    const phrase = element.slice(0, open);
    if (spec !== null && phrase.some((t) => t.type !== 'word')) {
      // `a@x.org <a@x.org>` is common and harmless; anything else reads two ways.
      const same = addrSpec(phrase);
      if (same === null || `${same.local}@${same.domain}`.toLowerCase() !== `${spec.local}@${spec.domain}`.toLowerCase()) {
        return { ok: false, reason: 'has an unquoted "@" (or another special) in its display name; quote the display name ("…")' };
      }
    }
  }
  if (spec === null) return { ok: false, reason: 'holds no address of the form local@domain' };
  const domain = normaliseDomainName(spec.domain);
  if (!domain.ok) return { ok: false, reason: `has an address whose domain ${domain.reason}` };
  return { ok: true, address: `${spec.local}@${spec.domain}`, domain: domain.name };
}

/**
 * What the From header of a header block says (the part of a message before its first empty line).
 * More than one From header is refused: receivers disagree on which one counts.
 */
export function readFromHeader(head: string): FromHeader {
  const values = fromHeaderValues(head);
  if (values.length === 0) return { kind: 'none' };
  if (values.length > 1) return { kind: 'invalid', reason: `the message has ${values.length} From headers; it must have one` };
  const mailbox = parseFromMailbox(values[0] ?? '');
  return mailbox.ok ? { kind: 'mailbox', address: mailbox.address, domain: mailbox.domain } : { kind: 'invalid', reason: `the From header ${mailbox.reason}` };
}

/** The header block of a message: everything before its first empty line. */
export function headerBlock(message: string): string {
  const end = /\r?\n\r?\n/.exec(message);
  return end ? message.slice(0, end.index) : message;
}
