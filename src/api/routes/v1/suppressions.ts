/**
 * `/v1/suppressions`: the workspace suppression list. List (by reason, with a cursor), add one
 * address or a list, remove, import a CSV upload (streamed) and export as CSV (streamed). Reads
 * need a `read` key, writes a `send` key. Holds no rules of its own: each handler calls a service
 * and shapes its answer.
 */
import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../../../core/errors.js';
import { SUPPRESSION_REASONS, SUPPRESSION_SCOPES } from '../../../core/suppression.js';
import { exportLine, exportSuppressions, EXPORT_COLUMNS, importSuppressions } from '../../../services/suppression-csv.js';
import { addSuppressions, listSuppressions, removeSuppression } from '../../../services/suppressions.js';
import type { Suppression, SuppressionWrite } from '../../../store/store.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { parseLimit } from '../../schemas.js';

const TAGS = ['suppressions'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };

const Reason = Type.String({ maxLength: 50, description: SUPPRESSION_REASONS.join(' | ') });
const Scope = Type.String({ maxLength: 50, description: `${SUPPRESSION_SCOPES.join(' | ')}; all holds back every stream, broadcast only broadcast mail` });

const SuppressionView = Type.Object({
  email: Type.String(),
  reason: Type.String(),
  scope: Type.String(),
  source: Type.String({ description: 'Who added it: api, import, or the process that decided' }),
  created_at: Type.String({ description: 'When the address was first suppressed in this scope' }),
});

const AddBody = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 700 })),
    emails: Type.Optional(Type.Array(Type.String({ maxLength: 700 }), { maxItems: 1000 })),
    reason: Type.Optional(Reason),
    scope: Type.Optional(Scope),
  },
  { additionalProperties: false, description: 'One email or a list of emails; reason defaults to manual, scope to the reason’s' },
);
type AddBodyT = Static<typeof AddBody>;

const ListQuery = Type.Object(
  {
    reason: Type.Optional(Reason),
    cursor: Type.Optional(Type.String()),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: '1 to 1000, default 50' })),
  },
  { additionalProperties: false },
);
type ListQueryT = Static<typeof ListQuery>;

const EmailParams = Type.Object({ email: Type.String({ maxLength: 700 }) });
const ScopeQuery = Type.Object({ scope: Type.Optional(Scope) }, { additionalProperties: false });

const ImportReportView = Type.Object({
  imported: Type.Integer({ description: 'Good rows written' }),
  added: Type.Integer(),
  updated: Type.Integer({ description: 'Already listed in that scope: reason and source replaced, created_at kept' }),
  unchanged: Type.Integer(),
  rejected: Type.Integer({ description: 'Bad rows, skipped' }),
  rejections: Type.Array(Type.Object({ row: Type.Integer(), email: Type.String(), field: Type.String(), message: Type.String() })),
});

function suppressionView(s: Suppression) {
  return { email: s.email, reason: s.reason, scope: s.scope, source: s.source, created_at: s.createdAt };
}

function writeView(w: SuppressionWrite) {
  return { ...suppressionView(w.suppression), change: w.change };
}

/** Import lives in its own scope: its body is a CSV stream, never parsed whole. */
async function importRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.post(
    '/v1/suppressions/import',
    {
      schema: {
        tags: TAGS,
        summary: 'Import a CSV (Content-Type: text/csv): an email column, optional reason and scope; bad rows are reported by row number',
        security: SECURITY,
        response: { 200: ImportReportView, ...ERRORS },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const type = request.headers['content-type'] ?? '';
      if (!/^text\/csv\s*(;|$)/i.test(type) || !(request.body instanceof Readable)) {
        throw new HeraldError('unsupported_import_type', { type: type === '' ? '(none)' : type.split(';')[0] ?? type });
      }
      return importSuppressions(ctx.deps, principal, request.body);
    },
  );
}

export async function suppressionRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  await app.register(async (scope) => importRoutes(scope, ctx));
  const principalOf = (request: Parameters<typeof authenticate>[2]) => authenticate(ctx.deps, ctx.limiter, request);

  app.get(
    '/v1/suppressions',
    {
      schema: {
        tags: TAGS,
        summary: 'Suppressed addresses by email, optionally of one reason',
        security: SECURITY,
        querystring: ListQuery,
        response: { 200: Type.Object({ data: Type.Array(SuppressionView), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...ERRORS },
      },
    },
    async (request) => {
      const query = request.query as ListQueryT;
      const page = await listSuppressions(ctx.deps, await principalOf(request), {
        limit: parseLimit(query.limit),
        ...(query.reason !== undefined ? { reason: query.reason } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { data: page.data.map(suppressionView), next_cursor: page.nextCursor };
    },
  );

  app.post(
    '/v1/suppressions',
    {
      schema: {
        tags: TAGS,
        summary: 'Suppress one address or a list; adding one again keeps its first created_at',
        security: SECURITY,
        body: AddBody,
        response: {
          201: Type.Object({ data: Type.Array(Type.Object({ ...SuppressionView.properties, change: Type.String({ description: 'added | updated | unchanged' }) })) }),
          ...ERRORS,
        },
      },
    },
    async (request, reply) => {
      const body = request.body as AddBodyT;
      const writes = await addSuppressions(ctx.deps, await principalOf(request), body);
      return reply.status(201).send({ data: writes.map(writeView) });
    },
  );

  app.delete(
    '/v1/suppressions/:email',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove an address from the list: in ?scope=, or in every scope',
        security: SECURITY,
        params: EmailParams,
        querystring: ScopeQuery,
        response: { 204: Type.Null({ description: 'Removed' }), ...ERRORS },
      },
    },
    async (request, reply) => {
      const { email } = request.params as Static<typeof EmailParams>;
      const { scope } = request.query as Static<typeof ScopeQuery>;
      await removeSuppression(ctx.deps, await principalOf(request), email, scope);
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/suppressions/export',
    { schema: { tags: TAGS, summary: `Every entry as CSV (${EXPORT_COLUMNS.join(', ')}), streamed`, security: SECURITY } },
    async (request, reply) => {
      const rows = exportSuppressions(ctx.deps, await principalOf(request));
      // Read the first row before answering, so a store failure is an error response, not a cut stream.
      const first = await rows.next();
      async function* lines(): AsyncGenerator<string> {
        yield `${EXPORT_COLUMNS.join(',')}\r\n`;
        for (let next = first; !next.done; next = await rows.next()) yield exportLine(next.value);
      }
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="suppressions.csv"')
        .send(Readable.from(lines()));
    },
  );
}
