/**
 * The caller's own workspace and its settings (`GET`/`PATCH /v1/workspace`): defaults the
 * workspace sets for its mail, between a request's options and the server's flags. Reading needs
 * a `read` key, changing a `full` key. A setting that could not work in this process (tracking
 * without `--public-url`) is refused here, when it is set, so that acceptance never fails over a
 * setting the request did not send.
 */
import { HeraldError, invalid } from '../core/errors.js';
import type { Workspace } from '../core/types.js';
import type { WorkspaceSettings, WorkspaceSettingsPatch } from '../core/workspace-settings.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { trackingFields } from './tracking-options.js';

export interface WorkspaceWithSettings {
  workspace: Workspace;
  settings: WorkspaceSettings;
}

async function load(deps: ServiceDeps, workspaceId: string, settings?: WorkspaceSettings | null): Promise<WorkspaceWithSettings> {
  // findWorkspace also matches names; a name spelled like another workspace's id must not answer.
  let workspace = await deps.store.findWorkspace(workspaceId);
  if (workspace !== null && workspace.id !== workspaceId) workspace = (await deps.store.listWorkspaces()).find((w) => w.id === workspaceId) ?? null;
  const current = settings === undefined ? await deps.store.getWorkspaceSettings(workspaceId) : settings;
  if (workspace === null || current === null) throw new HeraldError('not_found', { resource: 'workspace', id: workspaceId });
  return { workspace, settings: current };
}

/** The principal's workspace and its settings. */
export async function getOwnWorkspace(deps: ServiceDeps, principal: Principal): Promise<WorkspaceWithSettings> {
  requireScope(principal, 'read');
  return load(deps, principal.workspaceId);
}

/**
 * Validates a settings change as the API receives it (any value; fields named `settings.…`):
 * `tracking` is `{"opens"?: bool, "clicks"?: bool}` or null (an object with neither field is null).
 */
export function validSettingsPatch(input: unknown): WorkspaceSettingsPatch {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('settings', 'must be an object such as {"tracking": {"opens": true}}');
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) if (key !== 'tracking') throw invalid(`settings.${key}`, 'is not a workspace setting (tracking)');
  if (!('tracking' in given) || given.tracking === undefined) return {};
  const tracking = trackingFields(given.tracking, 'settings.tracking');
  return { tracking: Object.keys(tracking).length > 0 ? tracking : null };
}

/**
 * Applies a settings change to the principal's workspace and returns the workspace as it is now.
 * Turning tracking on without `--public-url` is `tracking_unavailable`, naming the field.
 */
export async function updateOwnWorkspaceSettings(deps: ServiceDeps, principal: Principal, input: unknown): Promise<WorkspaceWithSettings> {
  requireScope(principal, 'full');
  const patch = validSettingsPatch(input);
  const on = (['opens', 'clicks'] as const).find((key) => patch.tracking?.[key] === true);
  if (on !== undefined && deps.tracking === undefined) throw new HeraldError('tracking_unavailable', { field: `settings.tracking.${on}` });
  const settings = await deps.store.updateWorkspaceSettings(principal.workspaceId, patch);
  return load(deps, principal.workspaceId, settings);
}
