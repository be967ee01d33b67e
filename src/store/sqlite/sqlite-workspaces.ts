/**
 * Workspace settings on SQLite, one function per query with the database passed in. The settings
 * are a JSON object in `workspaces.settings` (migrations/011_workspace_settings.sql); the store
 * runs the update in an IMMEDIATE transaction, so a read-modify-write from two processes at once
 * never loses either (SQLite has one writer at a time).
 */
import type { Database } from 'better-sqlite3';
import { patchStoredSettings, workspaceSettingsOf, type WorkspaceSettings, type WorkspaceSettingsPatch } from '../../core/workspace-settings.js';
import { prepared } from './sqlite-statements.js';

/** The workspace's settings; null when there is no such workspace. */
export function getWorkspaceSettings(db: Database, workspaceId: string): WorkspaceSettings | null {
  const row = prepared(db, 'SELECT settings FROM workspaces WHERE id = ?').get(workspaceId) as { settings: string } | undefined;
  return row ? workspaceSettingsOf(JSON.parse(row.settings)) : null;
}

/** Applies the patch and returns the settings it wrote; null when there is no such workspace. Run inside a transaction. */
export function updateWorkspaceSettings(db: Database, workspaceId: string, patch: WorkspaceSettingsPatch): WorkspaceSettings | null {
  const row = prepared(db, 'SELECT settings FROM workspaces WHERE id = ?').get(workspaceId) as { settings: string } | undefined;
  if (!row) return null;
  const next = patchStoredSettings(JSON.parse(row.settings), patch);
  prepared(db, 'UPDATE workspaces SET settings = ? WHERE id = ?').run(JSON.stringify(next), workspaceId);
  return workspaceSettingsOf(next);
}
