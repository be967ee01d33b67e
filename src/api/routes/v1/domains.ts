/**
 * `/v1/domains`: sending domains. Add one (a DKIM key pair is made; the answer lists the DNS
 * records to publish), verify its records, rotate its key, remove it. `:id` is the domain's id or
 * its name. Private keys never appear in any answer. Holds no rules of its own: each handler calls
 * one service and shapes its answer.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  cancelRotation,
  completeRotation,
  createDomain,
  deleteDomain,
  getDomain,
  listDomains,
  rotateDomainKey,
  verifyDomain,
  type DomainDetails,
} from '../../../services/domains.js';
import { zoneLine } from '../../../services/domain-records.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import { PageQuery, parseLimit, type PageQueryT } from '../../schemas.js';

const TAGS = ['domains'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };

const Algorithm = Type.String({ maxLength: 20, description: 'rsa (RSA-2048, the default) | ed25519' });
const Selector = Type.String({ maxLength: 100, description: 'DKIM selector; default herald<yyyymm>' });

const DomainBody = Type.Object(
  {
    name: Type.String({ maxLength: 300, description: 'The domain mail is sent from, e.g. example.com' }),
    algorithm: Type.Optional(Algorithm),
    selector: Type.Optional(Selector),
  },
  { additionalProperties: false },
);
type DomainBodyT = Static<typeof DomainBody>;

const RotateBody = Type.Object({ algorithm: Type.Optional(Algorithm), selector: Type.Optional(Selector) }, { additionalProperties: false });
const CompleteBody = Type.Object(
  { force: Type.Optional(Type.Boolean({ description: 'switch even though DNS does not show the new record yet' })) },
  { additionalProperties: false },
);

const DomainParams = Type.Object({ id: Type.String({ maxLength: 300, description: 'The domain id, or its name' }) });
type DomainParamsT = Static<typeof DomainParams>;

const KeyView = Type.Object({
  selector: Type.String(),
  algorithm: Type.String(),
  state: Type.String({ description: 'active (signs) | pending (published beside the active one, not yet signing) | retired' }),
  created_at: Type.String(),
  activated_at: Type.Union([Type.String(), Type.Null()]),
  retired_at: Type.Union([Type.String(), Type.Null()]),
});

const RecordView = Type.Object({
  purpose: Type.String({ description: 'dkim | dkim_next | spf | return_path | dmarc | tracking' }),
  type: Type.String({ description: 'TXT | CNAME' }),
  name: Type.String(),
  value: Type.String(),
  zone: Type.String({ description: 'The record as a zone-file line; long TXT values split into strings' }),
  required: Type.Boolean({ description: 'Needed for the domain to be verified; the others are advice' }),
  state: Type.String({ description: 'unchecked | verified | missing | mismatch | error (the lookup failed)' }),
  found: Type.Array(Type.String(), { description: 'What the last check found at the name' }),
  detail: Type.Union([Type.String(), Type.Null()]),
  note: Type.String(),
});

const DomainView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String({ description: 'pending | verified; only verified domains may send' }),
  dkim: Type.Union([Type.Object({ selector: Type.String(), algorithm: Type.String() }), Type.Null()], { description: 'The signing key' }),
  keys: Type.Array(KeyView),
  records: Type.Array(RecordView),
  verified_at: Type.Union([Type.String(), Type.Null()]),
  last_checked_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  updated_at: Type.String(),
});

const VerifyView = Type.Object({
  ...DomainView.properties,
  activated: Type.Union([Type.String(), Type.Null()], { description: 'The selector signing switched to, when a rotation completed' }),
});

function domainView({ domain, records }: DomainDetails) {
  const active = domain.keys.find((key) => key.state === 'active');
  return {
    id: domain.id,
    name: domain.name,
    status: domain.status,
    dkim: active ? { selector: active.selector, algorithm: active.algorithm } : null,
    keys: domain.keys.map((key) => ({
      selector: key.selector,
      algorithm: key.algorithm,
      state: key.state,
      created_at: key.createdAt,
      activated_at: key.activatedAt,
      retired_at: key.retiredAt,
    })),
    records: records.map((record) => ({
      purpose: record.purpose,
      type: record.type,
      name: record.name,
      value: record.value,
      zone: zoneLine(record),
      required: record.required,
      state: record.state,
      found: record.found,
      detail: record.detail,
      note: record.note,
    })),
    verified_at: domain.verifiedAt,
    last_checked_at: domain.lastCheckedAt,
    created_at: domain.createdAt,
    updated_at: domain.updatedAt,
  };
}

export async function domainRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const principalOf = (request: Parameters<typeof authenticate>[2]) => authenticate(ctx.deps, ctx.limiter, request);
  const idOf = (request: { params: unknown }) => (request.params as DomainParamsT).id;
  // Bodies of the rotation calls are optional: a POST without one is validated as `{}`.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.method === 'POST') request.body = {};
  });

  app.post(
    '/v1/domains',
    {
      schema: {
        tags: TAGS,
        summary: 'Add a sending domain: makes its DKIM key pair and answers with the DNS records to publish',
        security: SECURITY,
        body: DomainBody,
        response: { 201: DomainView, ...ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body as DomainBodyT;
      const details = await createDomain(ctx.deps, await principalOf(request), body);
      return reply.status(201).send(domainView(details));
    },
  );

  app.get(
    '/v1/domains',
    {
      schema: {
        tags: TAGS,
        summary: 'Sending domains, newest first',
        security: SECURITY,
        querystring: PageQuery,
        response: { 200: Type.Object({ data: Type.Array(DomainView), next_cursor: Type.Union([Type.String(), Type.Null()]) }), ...ERRORS },
      },
    },
    async (request) => {
      const query = request.query as PageQueryT;
      const page = await listDomains(ctx.deps, await principalOf(request), {
        limit: parseLimit(query.limit),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { data: page.data.map(domainView), next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A sending domain, its keys and records, with what the last check found',
        security: SECURITY,
        params: DomainParams,
        response: { 200: DomainView, ...ERRORS },
      },
    },
    async (request) => domainView(await getDomain(ctx.deps, await principalOf(request), idOf(request))),
  );

  app.delete(
    '/v1/domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove a sending domain and its keys; mail from it is refused from now on',
        security: SECURITY,
        params: DomainParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...ERRORS },
      },
    },
    async (request, reply) => {
      await deleteDomain(ctx.deps, await principalOf(request), idOf(request));
      return reply.status(204).send();
    },
  );

  app.post(
    '/v1/domains/:id/verify',
    {
      schema: {
        tags: TAGS,
        summary: 'Look the records up in DNS: verified when DKIM, SPF and the return path pass (DMARC and tracking are advisory)',
        security: SECURITY,
        params: DomainParams,
        response: { 200: VerifyView, ...ERRORS },
      },
    },
    async (request) => {
      const outcome = await verifyDomain(ctx.deps, await principalOf(request), idOf(request));
      return { ...domainView(outcome), activated: outcome.activated };
    },
  );

  app.post(
    '/v1/domains/:id/rotate',
    {
      schema: {
        tags: TAGS,
        summary: 'Start a key rotation: a new key under a new selector, to publish beside the current one (body optional)',
        security: SECURITY,
        params: DomainParams,
        body: RotateBody,
        response: { 200: DomainView, ...ERRORS },
      },
    },
    async (request) => domainView(await rotateDomainKey(ctx.deps, await principalOf(request), idOf(request), request.body as Static<typeof RotateBody>)),
  );

  app.post(
    '/v1/domains/:id/rotate/complete',
    {
      schema: {
        tags: TAGS,
        summary: 'Switch signing to the pending key now; refused while DNS does not show its record, unless {"force": true}',
        security: SECURITY,
        params: DomainParams,
        body: CompleteBody,
        response: { 200: DomainView, ...ERRORS },
      },
    },
    async (request) => {
      const { force } = request.body as Static<typeof CompleteBody>;
      return domainView(await completeRotation(ctx.deps, await principalOf(request), idOf(request), { force: force ?? false }));
    },
  );

  app.delete(
    '/v1/domains/:id/rotate',
    {
      schema: {
        tags: TAGS,
        summary: 'Cancel a pending rotation: its key is removed and the current key keeps signing',
        security: SECURITY,
        params: DomainParams,
        response: { 200: DomainView, ...ERRORS },
      },
    },
    async (request) => domainView(await cancelRotation(ctx.deps, await principalOf(request), idOf(request))),
  );
}
