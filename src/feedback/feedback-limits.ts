/**
 * Hostile-input limits for feedback parsing, and the small helpers that apply them. Anyone can
 * send mail to the bounce domain or post to a webhook URL, so every parser bounds what it reads.
 *
 * Owns: the limits, text decoding that never throws, value clipping. Must not: parse formats.
 */
import type { Refusal } from './feedback-types.js';

/** Reports larger than this are refused unread. */
export const MAX_REPORT_BYTES = 10 * 1024 * 1024;
/** The most recipients one report may carry; a DSN claiming more is refused as a whole. */
export const MAX_RECIPIENTS = 1000;
/** The most events one provider batch may carry (a SendGrid post of ~768 KB holds a few thousand). */
export const MAX_EVENTS = 10_000;
/** Field values are cut to this many characters. */
export const MAX_FIELD_CHARS = 1000;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes to text: UTF-8 when the bytes are valid UTF-8, otherwise Latin-1 (every byte sequence is
 * valid Latin-1, and most legacy report parts are in ISO-8859-1 or plain ASCII).
 */
export function decodeText(bytes: Buffer | Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

/** Trims and cuts a value to `MAX_FIELD_CHARS`; empty becomes null. */
export function clip(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (trimmed === '') return null;
  return trimmed.length > MAX_FIELD_CHARS ? trimmed.slice(0, MAX_FIELD_CHARS) : trimmed;
}

/** Puts a Message-ID into Herald's stored form, `<id@host>`; null when there is none. */
export function normaliseMessageId(value: string | null | undefined): string | null {
  const clipped = clip(value);
  if (clipped === null) return null;
  const bracketed = /<([^<>\s]+)>/.exec(clipped);
  const id = bracketed ? `<${bracketed[1]}>` : /^[^<>\s]+$/.test(clipped) ? `<${clipped}>` : null;
  return id !== null && id.length <= MAX_FIELD_CHARS ? id : null;
}

/** The ignored-input result, with the reason clipped so a hostile value cannot flood the log. */
export function refuse(reason: string): Refusal {
  return { ok: false, reason: reason.length > 300 ? `${reason.slice(0, 300)}…` : reason };
}

/** The refusal for an unexpected error, so that the entry points never throw. */
export function refuseError(what: string, error: unknown): Refusal {
  return refuse(`${what} could not be read: ${error instanceof Error ? error.message : String(error)}`);
}

/** The size check every raw-input parser runs first. */
export function oversize(raw: Buffer | string): Refusal | null {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.byteLength;
  return bytes > MAX_REPORT_BYTES ? refuse(`report is ${bytes} bytes, over the ${MAX_REPORT_BYTES}-byte limit`) : null;
}
