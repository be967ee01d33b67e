/**
 * A batch's `frequency_cap` option: `{ "max": 1, "per_seconds": 86400, "policy": "defer" }` caps
 * the batch's messages per recipient (counting every broadcast message sent to that recipient,
 * from any batch or single send), `false` exempts the batch from the server's cap, absent or null
 * follows the server's (`--frequency-cap`). Broadcast batches only: transactional mail is never capped.
 */
import { capProblem, FREQUENCY_CAP_POLICIES, type FrequencyCap, type FrequencyCapPolicy } from '../core/frequency-cap.js';
import { invalid } from '../core/errors.js';
import type { Stream } from '../core/types.js';

/** The validated option: a cap, false (exempt) or null (the server's). */
export function validFrequencyCap(input: unknown, stream: Stream, field = 'frequency_cap'): FrequencyCap | false | null {
  if (input === undefined || input === null) return null;
  if (input === false) return false;
  if (typeof input !== 'object' || Array.isArray(input)) throw invalid(field, 'must be {"max", "per_seconds", "policy"}, false or null');
  if (stream !== 'broadcast') throw invalid(field, 'applies to the broadcast stream only');
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) if (!['max', 'per_seconds', 'policy'].includes(key)) throw invalid(`${field}.${key}`, 'is not an option (max, per_seconds, policy)');
  const max = given.max;
  const perSeconds = given.per_seconds;
  if (typeof max !== 'number') throw invalid(`${field}.max`, 'is required: the most messages per recipient in the window');
  if (typeof perSeconds !== 'number') throw invalid(`${field}.per_seconds`, 'is required: the window, in seconds (86400 for a day)');
  const problem = capProblem(max, perSeconds);
  if (problem !== null) throw invalid(problem.startsWith('the count') ? `${field}.max` : `${field}.per_seconds`, problem);
  const policy = given.policy ?? 'defer';
  if (!FREQUENCY_CAP_POLICIES.includes(policy as FrequencyCapPolicy)) throw invalid(`${field}.policy`, 'must be defer or drop');
  return { max, perSeconds, policy: policy as FrequencyCapPolicy };
}

/** The option as the API shows it back (and as the engine reads it from the batch's options). */
export function frequencyCapShown(cap: FrequencyCap | false | null): { max: number; per_seconds: number; policy: FrequencyCapPolicy } | false | null {
  return cap === null || cap === false ? cap : { max: cap.max, per_seconds: cap.perSeconds, policy: cap.policy };
}
