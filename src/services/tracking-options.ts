/**
 * Which submissions get open and click tracking: the request's `tracking` option, field by field,
 * over the server's default (`--tracking opens,clicks`). Resolved once at acceptance and stored
 * with the content, so a message is tracked as it was accepted whatever the settings are when it
 * is sent. Tracking needs `--public-url`: asking for it without one is refused, naming the field.
 */
import { HeraldError, invalid } from '../core/errors.js';
import type { TrackingOptions } from '../core/types.js';
import type { ServiceDeps } from './deps.js';

/** The request's form of the option. */
export interface TrackingInput {
  opens?: boolean;
  clicks?: boolean;
}

const OFF: TrackingOptions = Object.freeze({ opens: false, clicks: false });

/**
 * The tracking a submission gets, or undefined for none. `input` is the request's option (any
 * value: batch options arrive unchecked); `field` names it in errors.
 *
 * @example
 * resolveTracking(deps, { opens: true }, 'tracking'); // { opens: true, clicks: <the default> }
 */
export function resolveTracking(deps: Pick<ServiceDeps, 'tracking'>, input: unknown, field = 'tracking'): TrackingOptions | undefined {
  const defaults = deps.tracking?.defaults ?? OFF;
  let resolved: TrackingOptions = defaults;
  if (input !== undefined && input !== null) {
    if (typeof input !== 'object' || Array.isArray(input)) throw invalid(field, 'must be an object such as {"opens": true, "clicks": true}');
    const given = input as Record<string, unknown>;
    for (const key of Object.keys(given)) if (key !== 'opens' && key !== 'clicks') throw invalid(`${field}.${key}`, 'is not an option (opens, clicks)');
    for (const key of ['opens', 'clicks'] as const) {
      if (given[key] !== undefined && typeof given[key] !== 'boolean') throw invalid(`${field}.${key}`, 'must be true or false');
    }
    resolved = {
      opens: typeof given.opens === 'boolean' ? given.opens : defaults.opens,
      clicks: typeof given.clicks === 'boolean' ? given.clicks : defaults.clicks,
    };
  }
  if (!resolved.opens && !resolved.clicks) return undefined;
  if (deps.tracking === undefined) {
    throw new HeraldError('tracking_unavailable', { field: resolved.opens ? `${field}.opens` : `${field}.clicks` });
  }
  return { opens: resolved.opens, clicks: resolved.clicks };
}

/** The option as the API shows it back. */
export function trackingShown(tracking: TrackingOptions | undefined): TrackingOptions {
  return tracking ?? { ...OFF };
}
