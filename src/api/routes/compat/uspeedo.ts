/**
 * uSpeedo-compatible send API (`POST /api/v1/email/SendEmail`), so that code written for uSpeedo
 * works against Herald by changing only the host. It translates uSpeedo's wire format into the
 * same `sendEmail` call as `/v1/emails` and answers in uSpeedo's shape:
 * `{RetCode, Message, SessionNo, FailedTargetEmails}`; errors carry uSpeedo's RetCodes.
 * See shared/reference/provider-apis.md §6.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidAddress } from '../../../core/address.js';
import { HeraldError } from '../../../core/errors.js';
import { createHash } from 'node:crypto';
import { listRejections } from '../../../services/batch-control.js';
import { createBatch, type RecipientRow } from '../../../services/batches.js';
import { sendEmail } from '../../../services/send.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { toHeraldError } from '../../errors.js';

export const RET_CODE = {
  ok: 0,
  parameterError: 215392,
  authFailed: 215393,
  missingParameter: 215397,
  serverError: 215400,
} as const;

const SendEmailBody = Type.Object(
  {
    SendEmail: Type.String({ description: 'Sender address' }),
    TargetEmailAddress: Type.Array(Type.String(), { minItems: 1, description: 'Recipients; each gets their own copy' }),
    Subject: Type.String({ minLength: 1, maxLength: 200 }),
    Content: Type.String({ minLength: 1, description: 'HTML or plain text body' }),
    FromName: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { $id: 'USpeedoSendEmail' },
);
type SendEmailBodyT = Static<typeof SendEmailBody>;

const SendEmailTemplateBody = Type.Object(
  {
    SendEmail: Type.String({ description: 'Sender address' }),
    TemplateId: Type.String({ minLength: 1, description: 'A Herald template id (tpl_…)' }),
    Subject: Type.Optional(Type.String({ maxLength: 200, description: 'Overrides the template subject' })),
    Abstract: Type.Optional(Type.String()),
    FromName: Type.Optional(Type.String({ maxLength: 200 })),
    EmailContent: Type.Array(
      Type.Object({
        EmailAddress: Type.String(),
        TemplateVariableParams: Type.Optional(Type.Array(Type.String({ description: '"name{##}value"' }))),
      }),
      { minItems: 1 },
    ),
  },
  { $id: 'USpeedoSendEmailTemplate' },
);
type SendEmailTemplateBodyT = Static<typeof SendEmailTemplateBody>;

/** `"name{##}John"` → `["name", "John"]`; uSpeedo's separator for per-recipient variables. */
function variablePair(param: string): [string, string] | null {
  const at = param.indexOf('{##}');
  return at <= 0 ? null : [param.slice(0, at), param.slice(at + 4)];
}

const USpeedoResponse = Type.Object({
  RetCode: Type.Integer(),
  Message: Type.String(),
  SessionNo: Type.Optional(Type.String()),
  FailedTargetEmails: Type.Optional(Type.Array(Type.Object({ EmailAddress: Type.String(), FailureReason: Type.String() }))),
});

/** Herald's field names → uSpeedo's, so error messages name the field the caller sent. */
const FIELD_NAMES: [RegExp, string][] = [
  [/^from\.name$/, 'FromName'],
  [/^from(\.email)?$/, 'SendEmail'],
  [/^(to|cc|bcc)(\[\d+\])?(\.email)?$/, 'TargetEmailAddress'],
  [/^subject$/, 'Subject'],
  [/^(html|text)$/, 'Content'],
  [/^template_id$/, 'TemplateId'],
];

function uspeedoField(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  for (const [pattern, name] of FIELD_NAMES) if (pattern.test(field)) return name;
  return field;
}

function retCodeFor(error: HeraldError): number {
  if (error.code === 'missing_api_key' || error.code === 'invalid_api_key' || error.code === 'insufficient_scope') return RET_CODE.authFailed;
  if (error.status >= 500) return RET_CODE.serverError;
  if (error.code === 'validation_failed' && String(error.params.reason) === 'is required') return RET_CODE.missingParameter;
  return RET_CODE.parameterError;
}

function sendUSpeedoError(request: FastifyRequest, reply: FastifyReply, thrown: unknown): FastifyReply {
  const error = toHeraldError(thrown);
  if (error.status >= 500) request.log.error({ err: thrown, code: error.code }, 'uSpeedo request failed');
  const field = uspeedoField(error.field);
  const retCode = retCodeFor(error);
  const message =
    retCode === RET_CODE.missingParameter ? `Missing required parameter [${field}]`
    : retCode === RET_CODE.parameterError ? `Invalid parameter [${field ?? error.code}]: ${error.message}`
    : error.message;
  if (error.code === 'rate_limited') void reply.header('retry-after', String(error.params.retry_after));
  return reply.status(error.status).send({ RetCode: retCode, Message: message });
}

const HTML = /<\/?[a-z][\s\S]*?>/i;

export async function uspeedoRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.setErrorHandler((error, request, reply) => sendUSpeedoError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendUSpeedoError(request, reply, new HeraldError('route_not_found', { method: request.method, url: request.url })),
  );

  app.post(
    '/SendEmail',
    {
      schema: {
        tags: ['compat: uSpeedo'],
        summary: 'uSpeedo SendEmail: the same content to each target address',
        security: [{ basic: [] }],
        body: SendEmailBody,
        response: { 200: USpeedoResponse, '4xx': USpeedoResponse, '5xx': USpeedoResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const body = request.body as SendEmailBodyT;
      const failed: { EmailAddress: string; FailureReason: string }[] = [];
      const targets: string[] = [];
      for (const target of body.TargetEmailAddress) {
        const address = target.trim();
        if (isValidAddress(address)) targets.push(address);
        else failed.push({ EmailAddress: target, FailureReason: 'invalid email address' });
      }
      if (targets.length === 0) throw new HeraldError('invalid_address', { field: 'TargetEmailAddress', value: body.TargetEmailAddress.join(', ') });
      const key = request.headers['idempotency-key'];
      const isHtml = HTML.test(body.Content);
      const result = await sendEmail(
        ctx.deps,
        principal,
        {
          from: body.FromName ? { email: body.SendEmail.trim(), name: body.FromName } : body.SendEmail.trim(),
          to: targets,
          subject: body.Subject,
          ...(isHtml ? { html: body.Content } : { text: body.Content }),
        },
        { individual: true, ...(typeof key === 'string' ? { idempotencyKey: key } : {}) },
      );
      for (const message of result.messages) {
        if (message.suppressed) failed.push({ EmailAddress: message.to, FailureReason: `suppressed: ${message.suppressed}` });
      }
      return { RetCode: RET_CODE.ok, Message: 'success', SessionNo: result.batchId ?? result.id, FailedTargetEmails: failed };
    },
  );

  app.post(
    '/SendEmailTemplate',
    {
      schema: {
        tags: ['compat: uSpeedo'],
        summary: 'uSpeedo SendEmailTemplate: a stored template, personalised per EmailContent entry (sent as a batch)',
        security: [{ basic: [] }],
        body: SendEmailTemplateBody,
        response: { 200: USpeedoResponse, '4xx': USpeedoResponse, '5xx': USpeedoResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const body = request.body as SendEmailTemplateBodyT;
      async function* rows(): AsyncGenerator<RecipientRow> {
        for (const [i, entry] of body.EmailContent.entries()) {
          const variables: Record<string, string> = {};
          for (const param of entry.TemplateVariableParams ?? []) {
            const pair = variablePair(param);
            if (pair === null) {
              yield { row: i + 1, email: entry.EmailAddress, error: `TemplateVariableParams: "${param}" is not name{##}value` };
              continue;
            }
            variables[pair[0]] = pair[1];
          }
          yield { row: i + 1, email: entry.EmailAddress.trim(), variables };
        }
      }
      const key = request.headers['idempotency-key'];
      const created = await createBatch(ctx.deps, principal, {
        options: {
          from: body.FromName ? { email: body.SendEmail.trim(), name: body.FromName } : body.SendEmail.trim(),
          template_id: body.TemplateId,
          stream: 'transactional',
          ...(body.Subject !== undefined ? { subject: body.Subject } : {}),
        },
        recipients: rows(),
        requestHash: () => createHash('sha256').update(JSON.stringify(body)).digest('hex'),
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      const rejected = await listRejections(ctx.deps, principal, created.batch.id, { limit: 1000 });
      return {
        RetCode: RET_CODE.ok,
        Message: 'success',
        SessionNo: created.batch.id,
        FailedTargetEmails: rejected.data.map((r) => ({ EmailAddress: r.email, FailureReason: `${r.reason}: ${r.detail}` })),
      };
    },
  );
}
