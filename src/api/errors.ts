/**
 * The API's one error handler. Every failure leaves as
 * `{ "error": { "code", "message", "field"? } }` with the registry's status; schema validation
 * failures name the offending field in the request's own terms (`to[2]`, `headers`), and nothing
 * internal (stack, SQL, paths) ever reaches the client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '../core/errors.js';

interface AjvIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** `/to/0/email` → `to[0].email`. */
export function fieldFromPointer(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function validationError(issues: AjvIssue[], context: string | undefined): HeraldError {
  // Prefer the most specific issue: a union produces one entry per branch, the first is the clearest.
  const issue = issues.find((i) => i.keyword !== 'anyOf' && i.keyword !== 'oneOf') ?? issues[0];
  const base = fieldFromPointer(issue?.instancePath ?? '');
  let field = base || (context ?? 'body');
  let reason = issue?.message ?? 'is invalid';
  if (issue?.keyword === 'required') {
    const missing = String(issue.params.missingProperty ?? '');
    field = base ? `${base}.${missing}` : missing;
    reason = 'is required';
  } else if (issue?.keyword === 'additionalProperties') {
    const extra = String(issue.params.additionalProperty ?? '');
    field = base ? `${base}.${extra}` : extra;
    reason = 'is not a known field';
  }
  return new HeraldError('validation_failed', { field, reason });
}

/**
 * Driver error codes of a store that is away, overloaded or refused the transaction for now:
 * SQLite's, the socket's, PostgreSQL's SQLSTATE classes 08 and 57P, too many connections, and a
 * deadlock or serialization failure (40P01, 40001: the same request succeeds when retried).
 */
const STORE_DOWN = /^(SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|57P0[1-5]|53300|08\d{3}|40P01|40001)/;
/** PostgreSQL refuses text with a NUL character (22P05 in jsonb, 22021 in text columns); SQLite keeps it. */
const UNSTORABLE_TEXT = /^(22P05|22021)$/;
/** node-postgres reports a dropped or unreachable server by message only, without a code. */
const STORE_DOWN_MESSAGE = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed and is not queryable|Cannot use a pool after calling end)/;

function isStoreDown(error: { code?: unknown; message?: unknown }): boolean {
  if (typeof error.code === 'string' && STORE_DOWN.test(error.code)) return true;
  return typeof error.message === 'string' && STORE_DOWN_MESSAGE.test(error.message);
}

/** Maps anything thrown into a HeraldError a client may see. */
export function toHeraldError(error: unknown): HeraldError {
  if (error instanceof HeraldError) return error;
  const e = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string; type?: string; body?: unknown };
  if (Array.isArray(e.validation)) return validationError(e.validation, e.validationContext);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('payload_too_large', { limit: String(e.message.match(/\d+/)?.[0] ?? 'the') });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HeraldError('unsupported_media_type', { type: 'of this request' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HeraldError('invalid_json', { reason: 'the body is empty' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('validation_failed', { field: 'Content-Length', reason: 'does not match the body' });
    default:
      break;
  }
  if (e instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new HeraldError('invalid_json', { reason: e.message.replace(/^.*?JSON[^:]*: ?/, '') || 'malformed' });
  }
  if (isStoreDown(e)) return new HeraldError('store_unavailable', {}, { cause: error });
  if (typeof e.code === 'string' && UNSTORABLE_TEXT.test(e.code)) {
    return new HeraldError('validation_failed', { field: 'body', reason: 'contains a NUL character (\\u0000), which cannot be stored' }, { cause: error });
  }
  if (e.statusCode === 413) return new HeraldError('payload_too_large', { limit: 'the' });
  return new HeraldError('internal', { ref: 'see server log' }, { cause: error });
}

export function errorBody(error: HeraldError): { error: { code: string; message: string; field?: string } } {
  return { error: { code: error.code, message: error.message, ...(error.field !== undefined ? { field: error.field } : {}) } };
}

export function sendError(request: FastifyRequest, reply: FastifyReply, thrown: unknown): FastifyReply {
  const error = toHeraldError(thrown);
  if (error.status >= 500) request.log.error({ err: thrown, code: error.code }, 'request failed');
  else request.log.debug({ code: error.code, field: error.field }, 'request refused');
  if (error.code === 'rate_limited') void reply.header('retry-after', String(error.params.retry_after));
  return reply.status(error.status).send(errorBody(error));
}
