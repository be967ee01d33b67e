/**
 * Short signed addresses at the bounce domain: the VERP return path every message is sent with
 * (`bounces+<token>@<bounce domain>`) and the unsubscribe mailto of broadcast mail
 * (`unsubscribe+<token>@<bounce domain>`). Mail that comes back to either names its message
 * without a lookup table, and cannot be made up for a message one has not seen.
 *
 * ```
 *   token = <message id without "msg_"> "-" <base32(first 10 bytes of HMAC-SHA256)>
 *   bounces+0lzx3k1q8000094sk2wz7q1hd-k3x5yq2m7ahb4rtc@bounce.example.com   (50-character local part)
 * ```
 * RFC 5321 allows 64 characters in a local part, so the signed link tokens of tokens.ts (over
 * 100) cannot be used here. The token is lower-case only, because some MTAs fold the case of
 * the address they send a bounce to; 80 bits of MAC are far beyond what anyone can try over SMTP.
 * The MAC covers a purpose (`verp`, `unsubscribe`), so a return path never works as an
 * unsubscribe address or the other way round.
 *
 * Owns: the address formats and their verification. Must not: look anything up, or do I/O; the
 * key is passed in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MIN_KEY_BYTES } from './tokens.js';

/** What a signed bounce-domain address is for; each has its own local-part prefix. */
export type BounceAddressPurpose = 'verp' | 'unsubscribe';

const PREFIX: Readonly<Record<BounceAddressPurpose, string>> = { verp: 'bounces', unsubscribe: 'unsubscribe' };
/** The message ids Herald makes: `msg_` and base-36 (src/lib/random-ids.ts). */
const MESSAGE_ID = /^msg_([0-9a-z]{1,40})$/;
const MAC_BYTES = 10;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const TOKEN = /^([0-9a-z]{1,40})-([a-z2-7]{16})$/;
/** RFC 5321 §4.5.3.1.1. */
export const MAX_LOCAL_PART = 64;

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function mac(key: Uint8Array, purpose: BounceAddressPurpose, messageId: string): string {
  if (key.length < MIN_KEY_BYTES) throw new Error(`a token key needs at least ${MIN_KEY_BYTES} bytes`);
  return base32(createHmac('sha256', key).update(`bounce-address-1\n${purpose}\n${messageId}`).digest().subarray(0, MAC_BYTES));
}

/**
 * The token naming `messageId` for `purpose`; null for an id that is not one of Herald's (such a
 * message keeps its own envelope sender).
 *
 * @example
 * bounceToken(key, 'verp', 'msg_0lzx3k1q8000094sk2wz7q1hd'); // '0lzx3k1q8000094sk2wz7q1hd-k3x5yq2m7ahb4rtc'
 */
export function bounceToken(key: Uint8Array, purpose: BounceAddressPurpose, messageId: string): string | null {
  const id = MESSAGE_ID.exec(messageId)?.[1];
  if (id === undefined) return null;
  return `${id}-${mac(key, purpose, messageId)}`;
}

/** The message id a token names, when it was made with `key` for `purpose`; null for anything else. */
export function readBounceToken(key: Uint8Array, purpose: BounceAddressPurpose, token: string): string | null {
  const match = TOKEN.exec(token.toLowerCase());
  if (match === null) return null;
  const messageId = `msg_${match[1] ?? ''}`;
  const expected = Buffer.from(mac(key, purpose, messageId));
  const given = Buffer.from(match[2] ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected) ? messageId : null;
}

/**
 * `bounces+<token>@<domain>` or `unsubscribe+<token>@<domain>`; null when the message id is not
 * one of Herald's or the local part would pass 64 characters.
 */
export function bounceAddress(key: Uint8Array, purpose: BounceAddressPurpose, messageId: string, domain: string): string | null {
  const token = bounceToken(key, purpose, messageId);
  if (token === null) return null;
  const local = `${PREFIX[purpose]}+${token}`;
  return local.length <= MAX_LOCAL_PART ? `${local}@${domain}` : null;
}

/**
 * Which hosts besides the bounce domain carry signed addresses: the return-path domain
 * `bounces.<d>` of every verified sending domain `d`, whose record aliases the return-path host
 * (MX to the bounce listener, SPF of the sending addresses). Mail from `d` leaves with its VERP
 * address there, so SPF passes in alignment with the From domain. Answered from memory by the
 * sending domains' key source (services/domain-signing-keys.ts).
 */
export interface ReturnPathDomains {
  /** `bounces.<domain>` when `domain` is a verified sending domain of `workspaceId`; null otherwise. */
  returnPathDomainFor(domain: string, workspaceId: string): string | null;
  /** Whether `host` is `bounces.<d>` for a sending domain `d` that some workspace has verified. */
  isReturnPathDomain(host: string): boolean;
}

/** What an address at the bounce domain is, by its local part alone (the token is not checked here). */
export type BounceAddressKind =
  | { kind: 'verp' | 'unsubscribe'; token: string }
  | { kind: 'feedback_loop' }
  | { kind: 'other' };

/** Local parts that receive feedback-loop (ARF) reports, as mailbox providers are told to send them. */
export const FEEDBACK_LOOP_LOCAL_PARTS: readonly string[] = ['fbl', 'abuse', 'arf'];

/**
 * Sorts an address by its local part when its domain is `domain` (case-insensitive); any other
 * domain is `other`.
 *
 * @example
 * bounceAddressKind('bounces+abc-xyz@bounce.example.com', 'bounce.example.com'); // { kind: 'verp', token: 'abc-xyz' }
 * bounceAddressKind('fbl@bounce.example.com', 'bounce.example.com'); // { kind: 'feedback_loop' }
 */
export function bounceAddressKind(address: string, domain: string): BounceAddressKind {
  const at = address.lastIndexOf('@');
  if (at < 1 || address.slice(at + 1).toLowerCase() !== domain.toLowerCase()) return { kind: 'other' };
  const local = address.slice(0, at).toLowerCase();
  if (FEEDBACK_LOOP_LOCAL_PARTS.includes(local)) return { kind: 'feedback_loop' };
  const plus = local.indexOf('+');
  if (plus < 0) return { kind: 'other' };
  const prefix = local.slice(0, plus);
  const token = local.slice(plus + 1);
  if (prefix === PREFIX.verp) return { kind: 'verp', token };
  if (prefix === PREFIX.unsubscribe) return { kind: 'unsubscribe', token };
  return { kind: 'other' };
}
