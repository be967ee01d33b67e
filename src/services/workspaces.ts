/**
 * Workspaces (tenants) and the first-start bootstrap: the `default` workspace and an admin key,
 * created once, when the store holds no workspace at all.
 */
import { HeraldError, invalid } from '../core/errors.js';
import type { Workspace } from '../core/types.js';
import { UniqueViolation } from '../store/store.js';
import type { ServiceDeps } from './deps.js';
import { createKey, type CreatedKey } from './keys.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export async function createWorkspace(deps: ServiceDeps, name: string): Promise<Workspace> {
  if (!NAME.test(name)) throw invalid('name', 'must be 1 to 63 lower-case letters, digits, dots, dashes or underscores');
  const workspace: Workspace = { id: deps.ids.next('workspace'), name, createdAt: deps.clock.now().toISOString() };
  try {
    await deps.store.createWorkspace(workspace);
  } catch (error) {
    if (error instanceof UniqueViolation) throw new HeraldError('conflict', { resource: 'workspace', id: name });
    throw error;
  }
  return workspace;
}

export function listWorkspaces(deps: ServiceDeps): Promise<Workspace[]> {
  return deps.store.listWorkspaces();
}

/** Finds a workspace by id or name; throws `not_found`. */
export async function resolveWorkspace(deps: ServiceDeps, idOrName: string): Promise<Workspace> {
  const workspace = await deps.store.findWorkspace(idOrName);
  if (!workspace) throw new HeraldError('not_found', { resource: 'workspace', id: idOrName });
  return workspace;
}

/**
 * On the very first start, creates the `default` workspace and an admin key and returns the key
 * (its secret is shown once); on every later start, returns null. A concurrent first start in
 * another process loses the race on the unique name and returns null.
 */
export async function bootstrap(deps: ServiceDeps): Promise<CreatedKey | null> {
  if ((await deps.store.listWorkspaces()).length > 0) return null;
  try {
    await createWorkspace(deps, 'default');
  } catch (error) {
    if (error instanceof HeraldError && error.code === 'conflict') return null;
    throw error;
  }
  return createKey(deps, { workspace: 'default', name: 'admin', scope: 'full' });
}
