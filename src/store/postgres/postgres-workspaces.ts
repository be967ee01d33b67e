/**
 * Workspace settings on PostgreSQL, one function per query with the client passed in. The settings
 * are a jsonb object in `workspaces.settings` (migrations/011_workspace_settings.sql). An update is
 * one statement that merges at the top level (`-` the removed keys, `||` the replaced ones), so two
 * processes patching different keys at once never lose either.
 */
import type pg from 'pg';
import { WORKSPACE_SETTING_KEYS, workspaceSettingsOf, type WorkspaceSettings, type WorkspaceSettingsPatch } from '../../core/workspace-settings.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** The workspace's settings; null when there is no such workspace. */
export async function getWorkspaceSettings(client: Queryable, workspaceId: string): Promise<WorkspaceSettings | null> {
  const { rows } = await client.query<{ settings: unknown }>('SELECT settings FROM workspaces WHERE id = $1', [workspaceId]);
  return rows[0] ? workspaceSettingsOf(rows[0].settings) : null;
}

/** Applies the patch and returns the settings it wrote; null when there is no such workspace. */
export async function updateWorkspaceSettings(client: Queryable, workspaceId: string, patch: WorkspaceSettingsPatch): Promise<WorkspaceSettings | null> {
  const replaced: Record<string, unknown> = {};
  const removed: string[] = [];
  for (const key of WORKSPACE_SETTING_KEYS) {
    const value = patch[key];
    if (value === null) removed.push(key);
    else if (value !== undefined) replaced[key] = value;
  }
  const { rows } = await client.query<{ settings: unknown }>(
    'UPDATE workspaces SET settings = (settings - $2::text[]) || $3::jsonb WHERE id = $1 RETURNING settings',
    [workspaceId, removed, JSON.stringify(replaced)],
  );
  return rows[0] ? workspaceSettingsOf(rows[0].settings) : null;
}
