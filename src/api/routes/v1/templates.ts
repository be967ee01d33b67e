/**
 * `/v1/templates`: versioned templates. Every save (POST, PUT) writes a new version and answers
 * with lint's findings; DELETE hides the template but keeps its versions for pinned batches.
 * Holds no rules of its own: each handler calls one service and shapes its answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  renderTemplate,
  updateTemplate,
  type SavedTemplate,
  type TemplateAtVersion,
  type TemplateInput,
} from '../../../services/templates.js';
import type { TemplateSummary, TemplateVersionSummary } from '../../../store/store.js';
import { TemplateCache } from '../../../templates/compile-cache.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';
import {
  IdParams,
  PageQuery,
  parseLimit,
  TemplateBody,
  TemplateGetQuery,
  TemplateRenderBody,
  TemplateRenderedView,
  TemplateSavedView,
  TemplateSummaryView,
  TemplateVersionView,
  TemplateView,
  type IdParamsT,
  type PageQueryT,
  type TemplateBodyT,
  type TemplateGetQueryT,
  type TemplateRenderBodyT,
} from '../../schemas.js';

const TAGS = ['templates'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };
const NextCursor = Type.Union([Type.String(), Type.Null()]);

function summaryView(t: TemplateSummary) {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    version: t.latestVersion,
    latest_version: t.latestVersion,
    subject: t.subject,
    variables: t.variables,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
  };
}

function templateView({ template, version }: TemplateAtVersion) {
  return {
    ...summaryView({ ...template, subject: version.subject, variables: version.variables }),
    version: version.version,
    html: version.html,
    text: version.text,
    version_created_at: version.createdAt,
  };
}

function savedView(saved: SavedTemplate) {
  const { variables, warnings, suggestedText } = saved.lint;
  return { ...templateView(saved), lint: { variables, warnings, ...(suggestedText !== undefined ? { suggested_text: suggestedText } : {}) } };
}

function versionView(v: TemplateVersionSummary) {
  return { version: v.version, subject: v.subject, variables: v.variables, created_at: v.createdAt };
}

function toInput(body: TemplateBodyT): TemplateInput {
  return { name: body.name, subject: body.subject, html: body.html, text: body.text, description: body.description };
}

function page(query: PageQueryT): { cursor?: string; limit: number } {
  return { limit: parseLimit(query.limit), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) };
}

export async function templateRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  // Per app, not per module: versions never change, so entries stay valid for the app's lifetime.
  const cache = new TemplateCache();
  const principalOf = (request: Parameters<typeof authenticate>[2]) => authenticate(ctx.deps, ctx.limiter, request);

  app.post(
    '/v1/templates',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a template (its version 1); answers with lint warnings',
        security: SECURITY,
        body: TemplateBody,
        response: { 201: TemplateSavedView, ...ERRORS },
      },
    },
    async (request, reply) => {
      const saved = await createTemplate(ctx.deps, await principalOf(request), toInput(request.body as TemplateBodyT));
      return reply.status(201).send(savedView(saved));
    },
  );

  app.get(
    '/v1/templates',
    {
      schema: {
        tags: TAGS,
        summary: 'List templates, newest first',
        security: SECURITY,
        querystring: PageQuery,
        response: { 200: Type.Object({ data: Type.Array(TemplateSummaryView), next_cursor: NextCursor }), ...ERRORS },
      },
    },
    async (request) => {
      const result = await listTemplates(ctx.deps, await principalOf(request), page(request.query as PageQueryT));
      return { data: result.data.map(summaryView), next_cursor: result.nextCursor };
    },
  );

  app.get(
    '/v1/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A template at its latest version, or at ?version=N',
        security: SECURITY,
        params: IdParams,
        querystring: TemplateGetQuery,
        response: { 200: TemplateView, ...ERRORS },
      },
    },
    async (request) => {
      const { version } = request.query as TemplateGetQueryT;
      const id = (request.params as IdParamsT).id;
      const found = await getTemplate(ctx.deps, await principalOf(request), id, version === undefined ? undefined : Number(version));
      return templateView(found);
    },
  );

  app.get(
    '/v1/templates/:id/versions',
    {
      schema: {
        tags: TAGS,
        summary: "A template's versions, newest first",
        security: SECURITY,
        params: IdParams,
        querystring: PageQuery,
        response: { 200: Type.Object({ data: Type.Array(TemplateVersionView), next_cursor: NextCursor }), ...ERRORS },
      },
    },
    async (request) => {
      const id = (request.params as IdParamsT).id;
      const result = await listTemplateVersions(ctx.deps, await principalOf(request), id, page(request.query as PageQueryT));
      return { data: result.data.map(versionView), next_cursor: result.nextCursor };
    },
  );

  app.put(
    '/v1/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Save a new version; earlier versions stay readable',
        security: SECURITY,
        params: IdParams,
        body: TemplateBody,
        response: { 200: TemplateSavedView, ...ERRORS },
      },
    },
    async (request) => {
      const id = (request.params as IdParamsT).id;
      return savedView(await updateTemplate(ctx.deps, await principalOf(request), id, toInput(request.body as TemplateBodyT)));
    },
  );

  app.delete(
    '/v1/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a template; batches that pinned a version keep it',
        security: SECURITY,
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...ERRORS },
      },
    },
    async (request, reply) => {
      await deleteTemplate(ctx.deps, await principalOf(request), (request.params as IdParamsT).id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/v1/templates/:id/render',
    {
      schema: {
        tags: TAGS,
        summary: 'Render a template with variables (a preview: nothing is sent)',
        security: SECURITY,
        params: IdParams,
        body: TemplateRenderBody,
        response: { 200: TemplateRenderedView, ...ERRORS },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as TemplateRenderBodyT;
      const id = (request.params as IdParamsT).id;
      const input = { variables: body.variables ?? {}, ...(body.version !== undefined ? { version: body.version } : {}) };
      const rendered = await renderTemplate(ctx.deps, await principalOf(request), id, input, cache);
      return { subject: rendered.subject, html: rendered.html, text: rendered.text, missing_variables: rendered.missingVariables };
    },
  );
}
