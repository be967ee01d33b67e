/**
 * `/v1/workspace`: the calling key's own workspace and its settings (defaults between a request's
 * options and the server's flags). Reading needs a `read` key, changing a `full` key. Holds no
 * rules of its own: each handler calls a service and shapes its answer.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { getOwnWorkspace, updateOwnWorkspaceSettings, type WorkspaceWithSettings } from '../../../services/workspace-settings.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';

const TAGS = ['workspace'];
const SECURITY = [{ bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };

const TrackingSetting = Type.Union(
  [
    Type.Object(
      { opens: Type.Optional(Type.Boolean()), clicks: Type.Optional(Type.Boolean()) },
      { additionalProperties: false, description: 'Tracking for mail whose request does not say; a field left out follows --tracking' },
    ),
    Type.Null({ description: 'Follow the server\'s --tracking' }),
  ],
);

const SettingsView = Type.Object({ tracking: TrackingSetting });

const WorkspaceView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  settings: SettingsView,
});

const PatchBody = Type.Object(
  {
    settings: Type.Object(
      { tracking: Type.Optional(TrackingSetting) },
      { additionalProperties: false, description: 'Settings to change; a setting left out is kept, null returns it to the server\'s default' },
    ),
  },
  { additionalProperties: false },
);
type PatchBodyT = Static<typeof PatchBody>;

function workspaceView({ workspace, settings }: WorkspaceWithSettings) {
  return { id: workspace.id, name: workspace.name, created_at: workspace.createdAt, settings: { tracking: settings.tracking ?? null } };
}

export async function workspaceRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const principalOf = (request: Parameters<typeof authenticate>[2]) => authenticate(ctx.deps, ctx.limiter, request);

  app.get(
    '/v1/workspace',
    {
      schema: {
        tags: TAGS,
        summary: 'The calling key\'s workspace and its settings',
        security: SECURITY,
        response: { 200: WorkspaceView, ...ERRORS },
      },
    },
    async (request) => workspaceView(await getOwnWorkspace(ctx.deps, await principalOf(request))),
  );

  app.patch(
    '/v1/workspace',
    {
      schema: {
        tags: TAGS,
        summary: 'Change the workspace\'s settings (a full key); tracking on needs --public-url',
        security: SECURITY,
        body: PatchBody,
        response: { 200: WorkspaceView, ...ERRORS },
      },
    },
    async (request) => {
      const body = request.body as PatchBodyT;
      return workspaceView(await updateOwnWorkspaceSettings(ctx.deps, await principalOf(request), body.settings));
    },
  );
}
