/**
 * DKIM signing (RFC 6376, relaxed/relaxed; RSA-SHA256 and Ed25519-SHA256 per RFC 8463): one
 * DKIM-Signature header per key, prepended to a complete CRLF message. It owns the signature
 * header's tags, folding and the private-key cache; it must not alter the message it signs
 * (canonicalisation lives in dkim-canon.ts and only feeds the hashes) and it does no I/O.
 *
 * The body hash and the canonical header block are computed once per message and shared by all
 * keys, so a dual RSA + Ed25519 signature costs one canonicalisation and two private-key
 * operations — the RSA one being almost all of the time.
 */
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { HeraldError } from '../core/errors.js';
import { parseMessage, relaxedBody, relaxedHeader, selectHeaders } from './dkim-canon.js';

/** A signing key and the DNS name its public half is published under (`selector._domainkey.domain`). */
export interface DkimKey {
  /** The d= domain; an internationalised name is signed in its A-label form. */
  domain: string;
  selector: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** PEM, PKCS#8 (`-----BEGIN PRIVATE KEY-----`). */
  privateKey: string;
}

/** What to sign and for how long; every field is optional. */
export interface DkimOptions {
  /** Header names to sign when present (case-insensitive). Default: {@link DEFAULT_SIGNED_HEADERS}. */
  headers?: string[];
  /** Names listed once beyond their instances so that adding one later breaks the signature. Default `['from']`. */
  oversign?: string[];
  /** The signing time for t= (and x=). Default: the current time. */
  now?: Date;
  /** When set, x= is t= plus this many seconds. */
  expireSeconds?: number;
}

export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  'from', 'to', 'cc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version', 'content-type',
  'content-transfer-encoding', 'list-unsubscribe', 'list-unsubscribe-post', 'list-id', 'feedback-id',
  'in-reply-to', 'references',
];

const DEFAULT_OVERSIGNED: readonly string[] = ['from'];

/** RFC 5322 §3.6.8 ftext; a colon or space in a name would corrupt h=. */
const FIELD_NAME = /^[!-9;-~]+$/;

/** Folded lines stay within the 78 characters RFC 5322 §2.1.1 recommends. */
const LINE_LIMIT = 78;

/** RFC 8301 §3.2: verifiers must reject RSA keys shorter than 1024 bits. */
const MIN_RSA_BITS = 1024;

/** Selectors are dot-separated DNS labels; anything else could also inject tags into the header. */
const SELECTOR = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/i;

/**
 * Parsing a PEM key costs far more than hashing a typical message, so parsed keys are kept per
 * PEM text. It is module state, but a pure cache with no behaviour of its own; it is bounded
 * because keys rotate and a long-running process must not hold every key it ever saw.
 */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_LIMIT = 256;

/** Worked out once: most messages are signed with the default names. */
const DEFAULT_SELECTION = selectionNames(DEFAULT_SIGNED_HEADERS, DEFAULT_OVERSIGNED);

/**
 * Returns `raw` with one DKIM-Signature header per key prepended, in key order. `raw` is the
 * complete message with CRLF line ends, as it will be transmitted (as UTF-8).
 *
 * @example
 * const signed = dkimSign(raw, [{ domain: 'example.com', selector: 's1', algorithm: 'rsa-sha256', privateKey: pem }]);
 */
export function dkimSign(raw: string, keys: readonly DkimKey[], options: DkimOptions = {}): string {
  return dkimSignatures(raw, keys, options) + raw;
}

/**
 * Only the DKIM-Signature header fields dkimSign would prepend, each ending in CRLF; the empty
 * string without keys. For callers that already hold `raw` and should not get a copy back, like
 * the worker pool.
 */
export function dkimSignatures(raw: string, keys: readonly DkimKey[], options: DkimOptions = {}): string {
  if (keys.length === 0) return '';
  const message = parseMessage(raw);
  const { wanted, oversigned } = options.headers === undefined && options.oversign === undefined
    ? DEFAULT_SELECTION
    : selectionNames(options.headers ?? DEFAULT_SIGNED_HEADERS, options.oversign ?? DEFAULT_OVERSIGNED);
  const selection = selectHeaders(message.fields, wanted, oversigned);

  let signedHeaders = '';
  for (const field of selection.fields) signedHeaders += `${relaxedHeader(field)}\r\n`;
  const bodyHash = createHash('sha256').update(relaxedBody(raw.slice(message.bodyStart)), 'utf8').digest('base64');

  const time = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const expiry = options.expireSeconds === undefined ? undefined : time + checkedExpiry(options.expireSeconds);

  let signatures = '';
  for (const key of keys) {
    const tags = [
      'v=1;', `a=${key.algorithm};`, 'c=relaxed/relaxed;', `d=${signingDomain(key)};`, `s=${checkedSelector(key)};`,
      `t=${time};`, ...(expiry === undefined ? [] : [`x=${expiry};`]),
    ];
    const unsigned = foldTags(tags, selection.names, bodyHash);
    const data = Buffer.from(`${signedHeaders}${relaxedHeader({ name: 'dkim-signature', text: unsigned })}`, 'utf8');
    const privateKey = loadKey(key);
    // RFC 8463 §3: Ed25519 signs the SHA-256 digest of the header data (Ed25519 hashes again
    // internally), where RSA signs the data through the named digest.
    const signature = key.algorithm === 'rsa-sha256'
      ? sign('sha256', data, privateKey)
      : sign(null, createHash('sha256').update(data).digest(), privateKey);
    signatures += `${unsigned}${foldSignature(signature.toString('base64'), lastLineLength(unsigned))}\r\n`;
  }
  return signatures;
}

interface SelectionNames {
  /** Names to sign, lower-case and without duplicates, oversigned ones included. */
  wanted: readonly string[];
  oversigned: ReadonlySet<string>;
}

function selectionNames(headers: readonly string[], oversign: readonly string[]): SelectionNames {
  for (const name of [...headers, ...oversign]) {
    if (!FIELD_NAME.test(name.trim())) {
      throw new HeraldError('invalid_config', { field: 'dkim.headers', reason: `"${name}" is not a header field name` });
    }
  }
  return {
    wanted: [...new Set([...headers, ...oversign].map(normaliseName))],
    oversigned: new Set(oversign.map(normaliseName)),
  };
}

function normaliseName(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * The header up to and including an empty `b=`, folded. h= is broken between names (the grammar
 * allows FWS around its colons) so that a long header list still yields short lines.
 */
function foldTags(tags: readonly string[], names: readonly string[], bodyHash: string): string {
  const lines: string[] = [];
  let line = 'DKIM-Signature:';
  const place = (piece: string, separator: string): void => {
    if (line.length + separator.length + piece.length > LINE_LIMIT) {
      lines.push(line);
      line = ` ${piece}`;
    } else {
      line += separator + piece;
    }
  };
  for (const tag of tags) place(tag, ' ');
  names.forEach((name, index) => {
    const last = index === names.length - 1;
    const piece = `${index === 0 ? 'h=' : ':'}${name}${last ? ';' : ''}`;
    place(piece, index === 0 ? ' ' : '');
  });
  place(`bh=${bodyHash};`, ' ');
  place('b=', ' ');
  lines.push(line);
  return lines.join('\r\n');
}

/** The b= value, continuing the line that holds `b=` and then folded into full lines. */
function foldSignature(value: string, used: number): string {
  const first = Math.max(LINE_LIMIT - used, 0);
  let folded = value.slice(0, first);
  for (let position = first; position < value.length; position += LINE_LIMIT - 1) {
    folded += `\r\n ${value.slice(position, position + LINE_LIMIT - 1)}`;
  }
  return folded;
}

function lastLineLength(text: string): number {
  return text.length - (text.lastIndexOf('\n') + 1);
}

function signingDomain(key: DkimKey): string {
  const domain = domainToASCII(key.domain.trim().toLowerCase());
  if (domain === '' || !SELECTOR.test(domain)) {
    throw keyError(key, 'domain', `"${key.domain}" is not a valid domain name`);
  }
  return domain;
}

function checkedSelector(key: DkimKey): string {
  if (!SELECTOR.test(key.selector)) throw keyError(key, 'selector', `"${key.selector}" is not a valid selector`);
  return key.selector;
}

function checkedExpiry(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds <= 0) {
    throw new HeraldError('invalid_config', { field: 'dkim.expireSeconds', reason: 'must be a positive whole number of seconds' });
  }
  return seconds;
}

/** Parses (once per PEM) and checks that the key is of the kind its algorithm names. */
function loadKey(key: DkimKey): KeyObject {
  let privateKey = keyCache.get(key.privateKey);
  if (privateKey === undefined) {
    try {
      privateKey = createPrivateKey({ key: key.privateKey, format: 'pem' });
    } catch (error) {
      throw keyError(key, 'privateKey', `not a PEM private key (${(error as Error).message})`, error);
    }
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value as string);
    keyCache.set(key.privateKey, privateKey);
  }
  const expected = key.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519';
  if (privateKey.asymmetricKeyType !== expected) {
    throw keyError(key, 'privateKey', `is a ${privateKey.asymmetricKeyType ?? 'unknown'} key but the algorithm is ${key.algorithm}`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (expected === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS)) {
    throw keyError(key, 'privateKey', `RSA keys must have at least ${MIN_RSA_BITS} bits, this one has ${bits ?? 'an unknown number of'}`);
  }
  return privateKey;
}

function keyError(key: DkimKey, field: string, reason: string, cause?: unknown): HeraldError {
  return new HeraldError(
    'invalid_config',
    { field: `dkim key ${key.selector}._domainkey.${key.domain}: ${field}`, reason },
    cause === undefined ? undefined : { cause },
  );
}
