/**
 * Standard Webhooks signatures for outbound webhooks (shared/reference/provider-apis.md §5).
 *
 * Owns the secret format (`whsec_` + base64 of 24–64 random bytes), the signed content
 * (`${id}.${timestamp}.${body}`, HMAC-SHA256 keyed with the decoded secret) and the three
 * `webhook-*` headers, plus `verify` for our tests and for the receiver docs.
 *
 * Must not: read the clock or draw randomness itself (both are passed in), touch the store or the
 * network, or re-serialise the body — the signature covers the exact bytes that are sent.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { hasLineBreak } from '../../core/address.js';
import { invalid } from '../../core/errors.js';

export const SECRET_PREFIX = 'whsec_';
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;
/** Bytes of a newly generated secret (256 bits, the HMAC-SHA256 block-size sweet spot). */
export const DEFAULT_SECRET_BYTES = 32;
/** Skew allowed between the signed timestamp and the receiver's clock, as in the reference library. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

const SIGNATURE_VERSION = 'v1';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TIMESTAMP = /^\d{1,15}$/;

/** A source of random bytes, e.g. `crypto.randomBytes`. */
export type RandomBytes = (size: number) => Buffer;

/** The headers that carry a signed webhook, named as Standard Webhooks names them. */
// A type alias rather than an interface, so it is assignable to plain header records.
export type WebhookSignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export interface SignInput {
  /** The message id, the same across retries of one message so receivers can deduplicate. */
  id: string;
  /** Unix time of this attempt, in seconds. */
  timestamp: number;
  /** The exact body bytes that will be sent. */
  body: Buffer | string;
  /** Every active secret of the endpoint; during rotation, the old one and the new one. */
  secrets: readonly string[];
}

export interface VerifyInput {
  /** The request headers; names are matched case-insensitively. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The raw request body, before any JSON parsing. */
  body: Buffer | string;
  /** The secrets the receiver accepts; a signature made with any of them passes. */
  secrets: readonly string[];
  /** The receiver's current Unix time, in seconds. */
  nowSeconds: number;
  /** Allowed clock skew in seconds; defaults to {@link SIGNATURE_TOLERANCE_SECONDS}. */
  toleranceSeconds?: number;
}

export type VerifyFailure =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'no_matching_signature';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * A new endpoint secret.
 *
 * @example generateSecret(randomBytes) // 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw…'
 */
export function generateSecret(random: RandomBytes, bytes: number = DEFAULT_SECRET_BYTES): string {
  if (!Number.isInteger(bytes) || bytes < SECRET_MIN_BYTES || bytes > SECRET_MAX_BYTES) {
    throw invalid('bytes', `must be an integer from ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES}`);
  }
  const key = random(bytes);
  if (key.length !== bytes) throw invalid('random', `returned ${key.length} bytes, ${bytes} were asked for`);
  return SECRET_PREFIX + key.toString('base64');
}

/** Why `secret` is not a well-formed secret, or null when it is. */
export function secretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with ${SECRET_PREFIX}`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64.test(encoded)) return `must be ${SECRET_PREFIX} followed by base64`;
  const size = Buffer.from(encoded, 'base64').length;
  if (size < SECRET_MIN_BYTES || size > SECRET_MAX_BYTES) {
    return `must encode ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes, got ${size}`;
  }
  return null;
}

/** The HMAC key of a secret; throws `validation_failed` naming `field` when it is malformed. */
export function decodeSecret(secret: string, field = 'secret'): Buffer {
  const problem = secretProblem(secret);
  if (problem !== null) throw invalid(field, problem);
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

function signatureOf(key: Buffer, id: string, timestamp: string, body: Buffer | string): string {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestamp}.`, 'utf8');
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return hmac.digest('base64');
}

/**
 * The headers to send with one attempt: one `v1,` signature per secret, space-separated.
 *
 * @example
 * sign({ id: 'msg_1', timestamp: 1700000000, body, secrets: [secret] })
 * // { 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,K5o…=' }
 */
export function sign(input: SignInput): WebhookSignatureHeaders {
  const { id, timestamp, body, secrets } = input;
  if (id.length === 0 || hasLineBreak(id)) throw invalid('id', 'must be non-empty, without line breaks');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw invalid('timestamp', 'must be whole Unix seconds');
  if (secrets.length === 0) throw invalid('secrets', 'at least one secret is required');
  const stamp = String(timestamp);
  const signatures = secrets.map(
    (secret, i) => `${SIGNATURE_VERSION},${signatureOf(decodeSecret(secret, `secrets[${i}]`), id, stamp, body)}`,
  );
  return { 'webhook-id': id, 'webhook-timestamp': stamp, 'webhook-signature': signatures.join(' ') };
}

function header(headers: VerifyInput['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    return typeof value === 'string' ? value : value?.[0];
  }
  return undefined;
}

/** Constant-time for equal lengths; a length mismatch only reveals that the length is wrong. */
function sameSignature(candidate: string, expected: string): boolean {
  const a = Buffer.from(candidate, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Checks a received webhook the way a receiver should: the timestamp within the tolerance window,
 * then any `v1` signature in the header matching any accepted secret, compared in constant time.
 * Malformed accepted secrets throw `validation_failed`; everything about the request is a result.
 */
export function verify(input: VerifyInput): VerifyResult {
  const { headers, body, secrets, nowSeconds } = input;
  const tolerance = input.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS;
  const keys = secrets.map((secret, i) => decodeSecret(secret, `secrets[${i}]`));
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatureHeader = header(headers, 'webhook-signature');
  if (!id || !stamp || !signatureHeader) return { ok: false, reason: 'missing_headers' };
  if (!TIMESTAMP.test(stamp)) return { ok: false, reason: 'invalid_timestamp' };
  const timestamp = Number(stamp);
  if (nowSeconds - timestamp > tolerance) return { ok: false, reason: 'timestamp_too_old' };
  if (timestamp - nowSeconds > tolerance) return { ok: false, reason: 'timestamp_too_new' };

  const expected = keys.map((key) => signatureOf(key, id, stamp, body));
  let matched = false;
  for (const versioned of signatureHeader.split(' ')) {
    const comma = versioned.indexOf(',');
    if (comma < 0 || versioned.slice(0, comma) !== SIGNATURE_VERSION) continue;
    const candidate = versioned.slice(comma + 1);
    // No early exit, so the time taken does not depend on which secret matched.
    for (const signature of expected) matched = sameSignature(candidate, signature) || matched;
  }
  return matched ? { ok: true } : { ok: false, reason: 'no_matching_signature' };
}
