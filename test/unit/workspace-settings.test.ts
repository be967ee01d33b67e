/**
 * The workspace settings' pure rules: reading back what storage holds, patching key by key, and
 * the order tracking is resolved in (request, then workspace, then server).
 */
import { describe, expect, it } from 'vitest';
import { patchStoredSettings, workspaceSettingsOf } from '../../src/core/workspace-settings.js';
import { HeraldError } from '../../src/core/errors.js';
import { resolveTracking } from '../../src/services/tracking-options.js';
import { validSettingsPatch } from '../../src/services/workspace-settings.js';

const server = (opens: boolean, clicks: boolean) => ({ tracking: { defaults: { opens, clicks } } });

describe('workspace settings', () => {
  it('reads back only what it understands from storage', () => {
    expect(workspaceSettingsOf({})).toEqual({});
    expect(workspaceSettingsOf(null)).toEqual({});
    expect(workspaceSettingsOf({ tracking: { opens: true, clicks: 'x' }, future: 1 })).toEqual({ tracking: { opens: true } });
    expect(workspaceSettingsOf({ tracking: { opens: 'yes' } })).toEqual({});
  });

  it('patches key by key: a value replaces the setting whole, null removes it, unknown keys stay', () => {
    expect(patchStoredSettings({ tracking: { opens: true, clicks: true }, future: 1 }, { tracking: { clicks: false } })).toEqual({ tracking: { clicks: false }, future: 1 });
    expect(patchStoredSettings({ tracking: { opens: true }, future: 1 }, { tracking: null })).toEqual({ future: 1 });
    expect(patchStoredSettings({ tracking: { opens: true } }, {})).toEqual({ tracking: { opens: true } });
  });

  it('validates a change and names the field', () => {
    expect(validSettingsPatch({ tracking: { opens: true } })).toEqual({ tracking: { opens: true } });
    expect(validSettingsPatch({ tracking: {} })).toEqual({ tracking: null });
    expect(validSettingsPatch({})).toEqual({});
    for (const [input, field] of [[{ tracking: { opens: 1 } }, 'settings.tracking.opens'], [{ colour: 'red' }, 'settings.colour'], [[], 'settings']] as const) {
      expect(() => validSettingsPatch(input)).toThrow(expect.objectContaining({ code: 'validation_failed', field }) as HeraldError);
    }
  });

  it('resolves each tracking field from the request, else the workspace, else the server', () => {
    expect(resolveTracking(server(true, false), undefined)).toEqual({ opens: true, clicks: false });
    expect(resolveTracking(server(true, false), undefined, 'tracking', { clicks: true })).toEqual({ opens: true, clicks: true });
    expect(resolveTracking(server(true, false), undefined, 'tracking', { opens: false })).toBeUndefined();
    expect(resolveTracking(server(false, false), { opens: false }, 'tracking', { opens: true, clicks: true })).toEqual({ opens: false, clicks: true });
    expect(resolveTracking(server(true, true), { opens: true, clicks: true }, 'tracking', { opens: false, clicks: false })).toEqual({ opens: true, clicks: true });
  });

  it('without --public-url, refuses only what the request asks for', () => {
    expect(resolveTracking({}, undefined, 'tracking', { opens: true, clicks: true })).toBeUndefined();
    expect(resolveTracking({}, { opens: false }, 'tracking', { opens: true })).toBeUndefined();
    expect(() => resolveTracking({}, { clicks: true }, 'tracking', null)).toThrow(expect.objectContaining({ code: 'tracking_unavailable' }) as HeraldError);
  });
});
