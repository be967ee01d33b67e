/**
 * Reading untrusted JSON (webhook bodies) without `any` and without throwing.
 *
 * Owns: decoding a body to a value under the size limit, and typed field access. Must not: know
 * any provider's shape.
 */
import { decodeText, MAX_REPORT_BYTES, refuse } from './feedback-limits.js';
import type { Refusal } from './feedback-types.js';

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field (numbers are turned into strings, as some providers send ids as numbers); null otherwise. */
export function text(record: JsonRecord | null, key: string): string | null {
  const value = record?.[key];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

export function record(source: JsonRecord | null, key: string): JsonRecord | null {
  const value = source?.[key];
  return isRecord(value) ? value : null;
}

export function list(source: JsonRecord | null, key: string): unknown[] | null {
  const value = source?.[key];
  return Array.isArray(value) ? value : null;
}

/**
 * The body as a JSON value: objects and arrays pass through (the route already parsed them);
 * a string or Buffer (SNS posts `text/plain`) is size-checked and parsed.
 */
export function jsonBody(body: unknown, what: string): { ok: true; value: unknown } | Refusal {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) {
    return body === null || body === undefined ? refuse(`${what} body is empty`) : { ok: true, value: body };
  }
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  if (size > MAX_REPORT_BYTES) return refuse(`${what} body is ${size} bytes, over the ${MAX_REPORT_BYTES}-byte limit`);
  try {
    return { ok: true, value: JSON.parse(typeof body === 'string' ? body : decodeText(body)) as unknown };
  } catch {
    return refuse(`${what} body is not valid JSON`);
  }
}
