/**
 * Which submissions get open and click tracking, field by field: the request's `tracking` option,
 * else the workspace's setting (`PATCH /v1/workspace`), else the server's default
 * (`--tracking opens,clicks`). Resolved once at acceptance and stored with the content, so a
 * message is tracked as it was accepted whatever the settings are when it is sent.
 *
 * Tracking needs `--public-url`. A request that asks for it without one is refused, naming the
 * field; a workspace setting never makes acceptance fail (the request did not say): it is refused
 * when set (services/workspace-settings.ts), and a process without `--public-url` that meets one
 * anyway (another process took the setting) leaves tracking off.
 */
import { HeraldError, invalid } from '../core/errors.js';
import type { TrackingOptions } from '../core/types.js';
import type { ServiceDeps } from './deps.js';

/** The request's form of the option. */
export interface TrackingInput {
  opens?: boolean;
  clicks?: boolean;
}

const FIELDS = ['opens', 'clicks'] as const;
const OFF: TrackingOptions = Object.freeze({ opens: false, clicks: false });

/**
 * The fields an option sets, validated: `input` is any value (batch options and workspace
 * settings arrive unchecked); `field` names it in errors. Absent or null sets none.
 */
export function trackingFields(input: unknown, field: string): Partial<TrackingOptions> {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw invalid(field, 'must be an object such as {"opens": true, "clicks": true}');
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) if (key !== 'opens' && key !== 'clicks') throw invalid(`${field}.${key}`, 'is not an option (opens, clicks)');
  const fields: Partial<TrackingOptions> = {};
  for (const key of FIELDS) {
    const value = given[key];
    if (value !== undefined && typeof value !== 'boolean') throw invalid(`${field}.${key}`, 'must be true or false');
    if (typeof value === 'boolean') fields[key] = value;
  }
  return fields;
}

/**
 * The tracking a submission gets, or undefined for none. `input` is the request's option (any
 * value); `field` names it in errors; `workspace` is the workspace's setting, when read.
 *
 * @example
 * resolveTracking(deps, { opens: true }, 'tracking', { clicks: true }); // { opens: true, clicks: true }
 */
export function resolveTracking(
  deps: Pick<ServiceDeps, 'tracking'>,
  input: unknown,
  field = 'tracking',
  workspace: Partial<TrackingOptions> | null = null,
): TrackingOptions | undefined {
  const asked = trackingFields(input, field);
  if (deps.tracking === undefined) {
    // No --public-url: only what the request itself asks for can be refused; nothing else is on.
    const on = FIELDS.find((key) => asked[key] === true);
    if (on !== undefined) throw new HeraldError('tracking_unavailable', { field: `${field}.${on}` });
    return undefined;
  }
  const server = deps.tracking.defaults;
  const resolved: TrackingOptions = {
    opens: asked.opens ?? workspace?.opens ?? server.opens,
    clicks: asked.clicks ?? workspace?.clicks ?? server.clicks,
  };
  return resolved.opens || resolved.clicks ? resolved : undefined;
}

/**
 * `resolveTracking` with the workspace's setting read from the store, once, and only when it can
 * change the outcome: the process has `--public-url`, `readWorkspace` (the caller has html to
 * track, or shows the option back) and the request leaves a field open.
 */
export async function resolveWorkspaceTracking(
  deps: Pick<ServiceDeps, 'tracking' | 'store'>,
  workspaceId: string,
  input: unknown,
  options: { readWorkspace: boolean },
): Promise<TrackingOptions | undefined> {
  const asked = trackingFields(input, 'tracking');
  const open = FIELDS.some((key) => asked[key] === undefined);
  const workspace = deps.tracking !== undefined && options.readWorkspace && open
    ? ((await deps.store.getWorkspaceSettings(workspaceId))?.tracking ?? null)
    : null;
  return resolveTracking(deps, input, 'tracking', workspace);
}

/** The option as the API shows it back. */
export function trackingShown(tracking: TrackingOptions | undefined): TrackingOptions {
  return tracking ?? { ...OFF };
}
