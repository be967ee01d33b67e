/**
 * The one registry of Herald's errors. Every error a user can meet has a stable code, an HTTP
 * status and a message template here; code elsewhere throws `HeraldError` with a code from this
 * table and never invents a status of its own.
 *
 * Templates use `{name}` placeholders filled from the error's params.
 */
export const ERRORS = {
  validation_failed: { status: 400, message: '{field}: {reason}' },
  invalid_json: { status: 400, message: 'request body is not valid JSON: {reason}' },
  unsupported_media_type: { status: 415, message: 'content type {type} is not supported; send application/json' },
  payload_too_large: { status: 413, message: 'request body exceeds {limit} bytes' },
  invalid_address: { status: 422, message: '{field}: "{value}" is not a valid email address' },
  header_injection: { status: 422, message: '{field}: line breaks are not allowed in header values' },
  too_many_recipients: { status: 422, message: '{field}: at most {max} recipients per request, got {count}' },
  missing_content: { status: 422, message: 'one of html, text or template_id is required' },
  unknown_template: { status: 422, message: 'template_id: no template {id} in this workspace' },
  invalid_send_at: { status: 422, message: 'send_at: {reason}' },
  invalid_attachment: { status: 422, message: '{field}: {reason}' },
  invalid_cursor: { status: 400, message: 'cursor: not a cursor this API issued' },
  missing_api_key: { status: 401, message: 'an API key is required: send Authorization: Bearer <secret>' },
  invalid_api_key: { status: 401, message: 'the API key is unknown, revoked or malformed' },
  insufficient_scope: { status: 403, message: 'this key has scope {scope}; {needed} is required' },
  not_found: { status: 404, message: '{resource} {id} not found' },
  route_not_found: { status: 404, message: 'no route {method} {url}' },
  method_not_allowed: { status: 405, message: 'method {method} is not allowed on {url}' },
  invalid_idempotency_key: { status: 400, message: 'Idempotency-Key: must be 1 to 256 printable characters' },
  idempotency_conflict: { status: 409, message: 'Idempotency-Key: "{key}" was already used with a different request body' },
  idempotency_in_flight: { status: 409, message: 'Idempotency-Key: "{key}" is still being processed; retry later' },
  conflict: { status: 409, message: '{resource} {id} already exists' },
  rate_limited: { status: 429, message: 'rate limit of {limit} requests per second exceeded; retry after {retry_after}s' },
  store_unavailable: { status: 503, message: 'the store is unavailable; nothing was accepted, retry later' },
  internal: { status: 500, message: 'internal error ({ref}); nothing was accepted' },
  invalid_config: { status: 500, message: 'configuration: {field}: {reason}' },
  invalid_batch_row: { status: 422, message: 'row {row}: {reason}' },
  batch_too_large: { status: 413, message: 'the batch exceeds {limit}; split it into several batches' },
  batch_state_conflict: { status: 409, message: 'batch {id} is {status}; {action} is not possible now' },
  no_recipients: { status: 422, message: 'recipients: the batch has no recipients' },
  template_invalid: { status: 422, message: '{field}: {reason}' },
  metrics_token_required: { status: 401, message: 'GET /metrics requires Authorization: Bearer <the --metrics-token value>' },
  unsupported_import_type: { status: 415, message: 'content type {type} is not supported here; send text/csv' },
  invalid_csv: { status: 422, message: 'row {row}: {reason} ({imported} rows before it were imported)' },
  replay_too_large: { status: 422, message: 'the window holds more than {max} events for this endpoint; replay a narrower window' },
  invalid_unsubscribe_link: { status: 404, message: 'this unsubscribe link is not valid' },
  one_click_body_required: { status: 400, message: 'the body must be List-Unsubscribe=One-Click (RFC 8058), as a form' },
  tracking_unavailable: { status: 422, message: '{field}: open and click tracking needs --public-url (where mail clients reach /t/…); set it, or leave tracking off' },
  domain_not_verified: { status: 422, message: '{field}: {domain} {reason}' },
  domain_key_not_published: { status: 409, message: 'selector {selector}: no matching DKIM record at {name} ({state}); publish it first, or pass force: true' },
  domain_state_conflict: { status: 409, message: 'domain {id}: {reason}' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams = Record<string, string | number>;

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** An error a user can act on: a registry code, its HTTP status, a filled message and the field it names. */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly params: ErrorParams;
  /** The request field the error is about, when there is one (`to[2]`, `subject`, …). */
  readonly field: string | undefined;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(fill(ERRORS[code].message, params), options);
    this.name = 'HeraldError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.params = params;
    this.field = typeof params.field === 'string' ? params.field : undefined;
  }
}

/** Shorthand for the most common error: a named field failed a rule. */
export function invalid(field: string, reason: string): HeraldError {
  return new HeraldError('validation_failed', { field, reason });
}
