/**
 * Signed link tokens: a few text fields made tamper-proof with HMAC-SHA256, for links Herald puts
 * in mail (unsubscribe now; open and click tracking later) and must later trust without a lookup.
 *
 * ```
 *   v1.<base64url(fields joined by LF)>.<base64url(first 16 bytes of the HMAC)>
 * ```
 * The MAC covers the version, a purpose (`unsubscribe`, `click`, …) that is not in the token, and
 * the encoded fields, so a token made for one purpose never verifies for another. The fields are
 * encoded, not encrypted: a token is opaque to its reader and cannot be forged, but anyone holding
 * it can decode what it names. Verification compares MACs in constant time and returns null for
 * anything that is not a well-formed token of this key and purpose: no reason is given out.
 *
 * Pure: no I/O and no randomness; the key is passed in (see cli/unsubscribe-setup.ts for where it
 * comes from).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The version prefix of tokens this module writes; a later format gets a new one. */
export const TOKEN_VERSION = 'v1';

/** Bytes of the HMAC kept in a token (128 bits). */
const MAC_BYTES = 16;
/** The base64url length of MAC_BYTES. */
const MAC_CHARS = Math.ceil((MAC_BYTES * 4) / 3);
/** Longest token accepted for verification; anything longer is refused before hashing. */
export const MAX_TOKEN_LENGTH = 2048;
/** The shortest key accepted: 32 bytes, as many as the hash's output. */
export const MIN_KEY_BYTES = 32;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const FIELD_SEPARATOR = '\n';

function mac(key: Uint8Array, purpose: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`${TOKEN_VERSION}\n${purpose}\n${payload}`).digest().subarray(0, MAC_BYTES);
}

function checkKey(key: Uint8Array): void {
  if (key.length < MIN_KEY_BYTES) throw new Error(`a token key needs at least ${MIN_KEY_BYTES} bytes`);
}

/**
 * A token naming `fields` for `purpose`. Fields must not contain a line feed.
 *
 * @example
 * const token = signToken(key, 'unsubscribe', [workspaceId, messageId, 'ann@example.org', 'broadcast']);
 * verifyToken(key, 'unsubscribe', token); // the same four fields
 * verifyToken(key, 'click', token); // null
 */
export function signToken(key: Uint8Array, purpose: string, fields: readonly string[]): string {
  checkKey(key);
  if (fields.length === 0) throw new Error('a token names at least one field');
  for (const field of fields) if (field.includes(FIELD_SEPARATOR)) throw new Error('token fields must not contain a line feed');
  const payload = Buffer.from(fields.join(FIELD_SEPARATOR), 'utf8').toString('base64url');
  return `${TOKEN_VERSION}.${payload}.${mac(key, purpose, payload).toString('base64url')}`;
}

/**
 * The fields of `token` when it was signed with `key` for `purpose`; null for anything else (a
 * changed or missing character, another key or purpose, an unknown version, garbage).
 */
export function verifyToken(key: Uint8Array, purpose: string, token: string): string[] | null {
  checkKey(key);
  if (token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [version, payload = '', given = ''] = parts;
  if (version !== TOKEN_VERSION || !BASE64URL.test(payload) || given.length !== MAC_CHARS || !BASE64URL.test(given)) return null;
  const givenMac = Buffer.from(given, 'base64url');
  // base64url decoding ignores stray low bits of the last character; re-encoding catches them,
  // so exactly one spelling of a MAC is accepted.
  if (givenMac.length !== MAC_BYTES || givenMac.toString('base64url') !== given) return null;
  if (!timingSafeEqual(givenMac, mac(key, purpose, payload))) return null;
  // The MAC covers the payload as spelled, so a matching MAC means these are the bytes we encoded.
  return Buffer.from(payload, 'base64url').toString('utf8').split(FIELD_SEPARATOR);
}
