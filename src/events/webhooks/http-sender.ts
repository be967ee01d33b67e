/**
 * One HTTP POST of one webhook attempt to one endpoint, over a connection pinned to addresses the
 * endpoint guard already checked.
 *
 * The socket connects only to `addresses` (a custom `lookup` hands them to Node instead of DNS),
 * while the URL's hostname is still used for the Host header, TLS SNI and certificate checks.
 * Certificates are verified; redirects are never followed (a 3xx could point at an internal
 * address the guard never saw); a hard timer bounds the whole exchange, slow-drip responses
 * included; the response body is read only up to a cap. Every outcome is a result, never a throw,
 * and every socket is destroyed before the promise settles.
 *
 * Must not: resolve DNS, sign, decide retries or touch the store — the dispatcher composes
 * `endpoint-guard`, `signature` and `retry-schedule` around this.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { LookupFunction } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { bareHostname, checkUrl, type ResolvedAddress } from './endpoint-guard.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
/** Bytes of the response body kept for the delivery log. */
export const SNIPPET_BYTES = 1024;
export const USER_AGENT = 'Herald-Webhooks/1';

export interface WebhookRequest {
  url: string | URL;
  /** The addresses `resolveAllowed` returned for the URL's host; nothing else is connected to. */
  addresses: readonly ResolvedAddress[];
  /** Signature and any endpoint headers; Content-Type, User-Agent and Content-Length are ours. */
  headers: Readonly<Record<string, string>>;
  /** The exact bytes that were signed. */
  body: Buffer;
  /** Budget for the whole exchange: connect, TLS, request, response and its body. Default 10 s. */
  timeoutMs?: number;
  /** Response bytes read before giving up on the body. Default 64 KiB. */
  maxResponseBytes?: number;
}

export interface WebhookResponse {
  /** A 2xx status, with the whole response read within the time and size limits. */
  ok: boolean;
  /** The status the receiver answered, or null when no response arrived. */
  status: number | null;
  latencyMs: number;
  /** The first KiB of the response body, cut on a character boundary. */
  responseSnippet: string;
  /**
   * Why the exchange failed before a full answer could be judged: timeout, connection refused,
   * TLS error, redirect refused, response body too large, … Null when the receiver answered in
   * full; a non-2xx answer then shows in `status` alone.
   */
  error: string | null;
  /** The receiver answered 410 Gone: the endpoint should be disabled, not retried. */
  gone: boolean;
}

/** Node error codes of transport failures, in the words the delivery log shows. */
const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the receiver',
  EPIPE: 'connection closed by the receiver while sending',
  ECONNABORTED: 'connection aborted',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EADDRNOTAVAIL: 'address not available',
  HPE_HEADER_OVERFLOW: 'response headers too large',
};

const TLS_ERROR = /CERT|SELF_SIGNED|^ERR_TLS_|^ERR_SSL_|^EPROTO$/;

function describe(error: unknown): string {
  // With several pinned addresses Node tries each and reports all failures together.
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined && TLS_ERROR.test(code)) return `TLS error: ${message} (${code})`;
  if (code !== undefined && NETWORK_ERRORS[code] !== undefined) return NETWORK_ERRORS[code];
  return code === undefined ? message : `${message} (${code})`;
}

/** Hands Node the checked addresses in place of a DNS answer. */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname: string, options: LookupOptions, callback) => {
    const candidates = options.family === 4 || options.family === 6
      ? addresses.filter((a) => a.family === options.family)
      : addresses;
    const first = candidates[0];
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error('no checked address of the requested family');
      error.code = 'EADDRNOTAVAIL';
      callback(error, '');
    } else if (options.all === true) {
      callback(null, candidates.map((a): LookupAddress => ({ address: a.address, family: a.family })));
    } else {
      callback(null, first.address, first.family);
    }
  };
}

function positive(value: number | undefined, fallback: number): number | null {
  if (value === undefined) return fallback;
  return Number.isFinite(value) && value > 0 ? value : null;
}

/**
 * POSTs `body` to `url` over a connection to one of `addresses`.
 *
 * @example
 * const result = await deliverWebhook({ url, addresses: target.addresses, headers: sign(...), body });
 * if (result.gone) disableEndpoint(); else if (!result.ok) scheduleRetry(result.error ?? `HTTP ${result.status}`);
 */
export function deliverWebhook(input: WebhookRequest): Promise<WebhookResponse> {
  const started = performance.now();
  return new Promise<WebhookResponse>((resolve) => {
    let settled = false;
    let status: number | null = null;
    let received = 0;
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let request: ClientRequest | undefined;
    let response: IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;

    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      response?.destroy();
      request?.destroy();
      const snippet = new StringDecoder('utf8').write(Buffer.concat(kept).subarray(0, SNIPPET_BYTES));
      resolve({
        ok: error === null && status !== null && status >= 200 && status < 300,
        status,
        latencyMs: Math.round(performance.now() - started),
        responseSnippet: snippet,
        error,
        gone: status === 410,
      });
    };

    const timeoutMs = positive(input.timeoutMs, DEFAULT_TIMEOUT_MS);
    const maxBytes = positive(input.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES);
    if (timeoutMs === null || maxBytes === null) return finish('timeoutMs and maxResponseBytes must be positive');
    const checked = checkUrl(String(input.url));
    if (!checked.ok) return finish(`invalid URL: ${checked.reason}`);
    if (input.addresses.length === 0) return finish('no checked address to connect to');
    const url = checked.url;
    const tooLarge = `response body too large (over ${maxBytes} bytes)`;

    const onResponse = (res: IncomingMessage): void => {
      response = res;
      status = res.statusCode ?? null;
      res.on('error', (error) => finish(describe(error)));
      res.on('close', () => finish(res.complete ? null : 'connection closed before the response was complete'));
      if (status !== null && status >= 300 && status < 400) {
        const location = res.headers.location;
        return finish(`redirect refused${location === undefined ? '' : ` (Location: ${location.slice(0, 200)})`}`);
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) return finish(tooLarge);
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (keptBytes < SNIPPET_BYTES) {
          kept.push(chunk.subarray(0, SNIPPET_BYTES - keptBytes));
          keptBytes += Math.min(chunk.length, SNIPPET_BYTES - keptBytes);
        }
        if (received > maxBytes) finish(tooLarge);
      });
      res.on('end', () => finish(null));
    };

    try {
      const https = url.protocol === 'https:';
      const options: RequestOptions = {
        method: 'POST',
        host: bareHostname(url.hostname),
        port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: {
          ...input.headers,
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'content-length': String(input.body.length),
        },
        // A fresh agent per attempt: no pooled socket to another address, and `Connection: close`.
        agent: false,
        lookup: pinnedLookup(input.addresses),
        rejectUnauthorized: true,
      };
      timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);
      request = https ? httpsRequest(options) : httpRequest(options);
      request.on('error', (error) => finish(describe(error)));
      request.on('response', onResponse);
      request.end(input.body);
    } catch (error) {
      finish(describe(error));
    }
  });
}
