/**
 * Frequency caps: at most `max` broadcast messages to one recipient per `perSeconds`, decided at
 * send time against the send ledger (every broadcast message handed towards a transport, by
 * recipient and time). What to do with a message over its cap is its `policy`: `defer` it to when
 * the window opens, or `drop` it (final, as `suppressed` with reason `frequency_capped`).
 *
 * The decision is a pure function over the ledger rows a store adapter read under its lock, so
 * both backends decide the same way and the adapters hold no policy. Transactional mail is never
 * capped, and never counted.
 */

export type FrequencyCapPolicy = 'defer' | 'drop';

export const FREQUENCY_CAP_POLICIES: readonly FrequencyCapPolicy[] = ['defer', 'drop'];

/** A cap: at most `max` messages per `perSeconds` seconds, and what happens to the rest. */
export interface FrequencyCap {
  max: number;
  perSeconds: number;
  policy: FrequencyCapPolicy;
}

/** The longest window a cap may have (30 days): the ledger keeps rows this long. */
export const MAX_CAP_WINDOW_SECONDS = 30 * 86400;
/** The most messages a cap may allow per window. */
export const MAX_CAP_MESSAGES = 1000;

/** The reason written on events and messages held back by a cap. */
export const FREQUENCY_CAPPED = 'frequency_capped';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };
const SPEC = /^\s*(\d+)\s*\/\s*(\d*)\s*([smhdw])\s*$/;

/**
 * Reads `N/<duration>` (`1/24h`, `3/7d`, `2/90m`, `1/d`) into a cap; the error text names what is
 * wrong. Null and a reason for anything else.
 *
 * @example
 * parseFrequencyCap('1/24h', 'defer'); // { cap: { max: 1, perSeconds: 86400, policy: 'defer' } }
 */
export function parseFrequencyCap(spec: string, policy: FrequencyCapPolicy): { cap: FrequencyCap } | { error: string } {
  const match = SPEC.exec(spec);
  if (!match) return { error: 'must be N/<duration>, such as 1/24h, 3/7d or 2/90m' };
  const max = Number(match[1]);
  const perSeconds = (match[2] === '' ? 1 : Number(match[2])) * (UNITS[match[3] ?? 's'] ?? 1);
  const problem = capProblem(max, perSeconds);
  return problem === null ? { cap: { max, perSeconds, policy } } : { error: problem };
}

/** What is wrong with a cap's numbers, or null. */
export function capProblem(max: number, perSeconds: number): string | null {
  if (!Number.isInteger(max) || max < 1 || max > MAX_CAP_MESSAGES) return `the count must be a whole number from 1 to ${MAX_CAP_MESSAGES}`;
  if (!Number.isInteger(perSeconds) || perSeconds < 60 || perSeconds > MAX_CAP_WINDOW_SECONDS) {
    return `the window must be a whole number of seconds from 60 to ${MAX_CAP_WINDOW_SECONDS} (30 days)`;
  }
  return null;
}

/** One message asking to be sent: its recipient and the cap it is under (null: none, but it counts). */
export interface SendRequest {
  workspaceId: string;
  messageId: string;
  /** Normalised (domain lower-cased), as the ledger keys it. */
  recipient: string;
  cap: Pick<FrequencyCap, 'max' | 'perSeconds'> | null;
}

/** A ledger row: a message sent (or about to be) to a recipient, and when. */
export interface LedgerRow {
  messageId: string;
  /** ISO time. */
  at: string;
}

export type FrequencyVerdict = { allowed: true } | { allowed: false; opensAt: string; counted: number };

/** The ledger key of a recipient within a workspace. */
export function ledgerKey(workspaceId: string, recipient: string): string {
  return `${workspaceId}\n${recipient}`;
}

/** How far back the ledger must be read to decide `requests`: their longest window; 0 when none is capped. */
export function lookbackSeconds(requests: readonly SendRequest[]): number {
  let longest = 0;
  for (const request of requests) if (request.cap !== null && request.cap.perSeconds > longest) longest = request.cap.perSeconds;
  return longest;
}

/**
 * Decides each request in order, counting the ledger's rows in its own window and the requests
 * allowed before it in the same call (a chunk may hold the same recipient twice). A message that
 * already has a row (claimed again after a lease expired, or held and claimed back) is allowed:
 * it was counted when it was first allowed. Returns the verdicts and the rows to write (`at`: now).
 */
export function decideFrequency(
  requests: readonly SendRequest[],
  history: ReadonlyMap<string, readonly LedgerRow[]>,
  now: Date,
): { verdicts: Map<string, FrequencyVerdict>; allowed: SendRequest[] } {
  const verdicts = new Map<string, FrequencyVerdict>();
  const allowed: SendRequest[] = [];
  const rows = new Map<string, LedgerRow[]>();
  const nowIso = now.toISOString();
  for (const request of requests) {
    const key = ledgerKey(request.workspaceId, request.recipient);
    let seen = rows.get(key);
    if (!seen) {
      seen = [...(history.get(key) ?? [])];
      rows.set(key, seen);
    }
    const own = seen.some((row) => row.messageId === request.messageId);
    if (own || request.cap === null) {
      verdicts.set(request.messageId, { allowed: true });
      allowed.push(request);
      if (!own) seen.push({ messageId: request.messageId, at: nowIso });
      continue;
    }
    const windowStart = now.getTime() - request.cap.perSeconds * 1000;
    const inWindow = seen
      .map((row) => new Date(row.at).getTime())
      .filter((at) => at > windowStart)
      .sort((a, b) => a - b);
    if (inWindow.length < request.cap.max) {
      verdicts.set(request.messageId, { allowed: true });
      allowed.push(request);
      seen.push({ messageId: request.messageId, at: nowIso });
      continue;
    }
    // The window opens when enough of the counted sends have left it for one more to fit.
    const leaving = inWindow[inWindow.length - request.cap.max] ?? now.getTime();
    verdicts.set(request.messageId, {
      allowed: false,
      opensAt: new Date(leaving + request.cap.perSeconds * 1000).toISOString(),
      counted: inWindow.length,
    });
  }
  return { verdicts, allowed };
}

/**
 * A batch's cap as its stored options show it (`frequency_cap`): a cap, `false` when the batch is
 * exempt from caps, null when it follows the server's (`--frequency-cap`).
 */
export function capOfBatchOptions(options: Readonly<Record<string, unknown>>): FrequencyCap | false | null {
  const shown = options.frequency_cap;
  if (shown === false) return false;
  if (typeof shown !== 'object' || shown === null) return null;
  const { max, per_seconds: perSeconds, policy } = shown as Record<string, unknown>;
  if (typeof max !== 'number' || typeof perSeconds !== 'number' || capProblem(max, perSeconds) !== null) return null;
  return { max, perSeconds, policy: policy === 'drop' ? 'drop' : 'defer' };
}
