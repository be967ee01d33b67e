/**
 * A workspace's own settings: defaults that sit between a request's options and the server's
 * flags. Pure data and the one rule for reading it back from storage (a JSON column that an
 * older or newer Herald may have written): unknown keys and ill-typed values are dropped, never
 * trusted. Validation of what a client sends lives in services/workspace-settings.ts.
 */
import type { TrackingOptions } from './types.js';

/** Stored settings; an absent key follows the server's flag. */
export interface WorkspaceSettings {
  /** Open/click tracking for submissions that do not say; a field left out follows `--tracking`. */
  tracking?: Partial<TrackingOptions>;
}

/**
 * A change to the settings, key by key: a key given replaces that setting whole, `null` removes
 * it (back to the server's flag), a key left out is kept.
 */
export type WorkspaceSettingsPatch = { [K in keyof WorkspaceSettings]?: WorkspaceSettings[K] | null };

/** The keys settings may hold, in the order the API shows them. */
export const WORKSPACE_SETTING_KEYS = ['tracking'] as const satisfies readonly (keyof WorkspaceSettings)[];

/**
 * Settings as stored (parsed JSON of any shape) reduced to what this version understands.
 *
 * @example
 * workspaceSettingsOf({ tracking: { opens: true, clicks: 'x' }, future: 1 }); // { tracking: { opens: true } }
 */
export function workspaceSettingsOf(stored: unknown): WorkspaceSettings {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return {};
  const tracking = (stored as Record<string, unknown>).tracking;
  if (typeof tracking !== 'object' || tracking === null || Array.isArray(tracking)) return {};
  const fields: Partial<TrackingOptions> = {};
  for (const key of ['opens', 'clicks'] as const) {
    const value = (tracking as Record<string, unknown>)[key];
    if (typeof value === 'boolean') fields[key] = value;
  }
  return Object.keys(fields).length > 0 ? { tracking: fields } : {};
}

/**
 * The stored object after `patch`: what the stores write. Shallow, so a patched key never keeps
 * fields of its old value; keys this version does not know are kept as they were (a newer Herald
 * sharing the store may have written them).
 */
export function patchStoredSettings(stored: unknown, patch: WorkspaceSettingsPatch): Record<string, unknown> {
  const next: Record<string, unknown> = typeof stored === 'object' && stored !== null && !Array.isArray(stored) ? { ...stored } : {};
  for (const key of WORKSPACE_SETTING_KEYS) {
    const value = patch[key];
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  }
  return next;
}
