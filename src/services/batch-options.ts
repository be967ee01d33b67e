/**
 * A batch submission's options, validated before the first recipient is read: the sender, the
 * content (a stored template version, pinned, or inline sources, which are templates too), the
 * stream, schedule, rate cap, canary and policies. Every rule names its field in the request's
 * own terms. The result is what intake stores and what the supervisor and engine obey.
 */
import { assertHeaderSafe } from '../core/address.js';
import { DEFAULT_GUARD_RAILS, type GuardRails } from '../core/batch-state.js';
import { HeraldError, invalid } from '../core/errors.js';
import type { Address, Content, Stream } from '../core/types.js';
import { lintTemplate, type TemplateParts } from '../templates/lint.js';
import { PLATFORM_VARIABLES } from '../templates/variables.js';
import type { ServiceDeps } from './deps.js';
import { validateEmail, type AddressInput } from './email-input.js';
import { resolveTemplateVersion } from './templates.js';
import { resolveWorkspaceTracking, trackingShown, type TrackingInput } from './tracking-options.js';
import { frequencyCapShown, validFrequencyCap } from './frequency-cap-option.js';
import type { FrequencyCap, FrequencyCapPolicy } from '../core/frequency-cap.js';

export type MissingVariablePolicy = 'reject_row' | 'fail_batch' | 'render_empty';

export interface BatchOptionsInput {
  from?: AddressInput;
  reply_to?: AddressInput | AddressInput[];
  subject?: string;
  html?: string;
  text?: string;
  template_id?: string;
  template_version?: number;
  headers?: Record<string, string>;
  tags?: string[];
  metadata?: Record<string, string>;
  stream?: Stream;
  send_at?: string;
  rate?: { per_hour?: number };
  canary?: { percent?: number; hold?: boolean; hold_seconds?: number };
  policies?: { on_missing_variable?: MissingVariablePolicy; max_bounce_rate?: number; max_complaint_rate?: number; min_outcomes?: number };
  /** Open/click tracking (services/tracking-options.ts). */
  tracking?: TrackingInput;
  /** Per-recipient cap for this broadcast batch, false to exempt it, null for the server's (services/frequency-cap-option.ts). */
  frequency_cap?: { max?: number; per_seconds?: number; policy?: FrequencyCapPolicy } | false | null;
}

export interface CanaryOptions {
  percent: number;
  /** Wait for `approve` (true) or go on after `holdSeconds` when the sample is healthy (false). */
  hold: boolean;
  holdSeconds: number;
}

export interface ValidBatchOptions {
  from: Address;
  content: Extract<Content, { kind: 'template' }>;
  /** Variables the template reads that a recipient must supply. */
  requiredVariables: string[];
  stream: Stream;
  tags: string[];
  metadata: Record<string, string>;
  sendAt: Date | null;
  perHour: number | null;
  canary: CanaryOptions | null;
  onMissingVariable: MissingVariablePolicy;
  guardRails: GuardRails;
  /** The batch's frequency cap, false when exempt, null for the server's. */
  frequencyCap: FrequencyCap | false | null;
  /** The options as the API shows them back (snake_case, resolved). */
  shown: Record<string, unknown>;
}

const POLICIES: readonly MissingVariablePolicy[] = ['reject_row', 'fail_batch', 'render_empty'];

function rate(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalid(field, 'must be a number from 0 to 1');
  return value;
}

/** Validates the parts and returns the variables recipients must supply. Throws `template_invalid`. */
export function checkTemplateParts(parts: TemplateParts): string[] {
  const report = lintTemplate(parts);
  const error = report.errors[0];
  if (error) throw new HeraldError('template_invalid', { field: error.field, reason: error.message });
  return report.variables.filter((name) => !PLATFORM_VARIABLES.has(name) && name !== 'name');
}

export async function validateBatchOptions(deps: ServiceDeps, workspaceId: string, input: BatchOptionsInput, now: Date): Promise<ValidBatchOptions> {
  if (input.from === undefined) throw invalid('from', 'is required');
  // The single-email rules cover from, reply_to, headers, tags, metadata and send_at; a
  // placeholder recipient and body satisfy the parts that do not apply to a batch.
  const email = validateEmail(
    {
      from: input.from,
      to: 'batch@example.com',
      text: 'x',
      ...(input.reply_to !== undefined ? { reply_to: input.reply_to } : {}),
      ...(input.headers !== undefined ? { headers: input.headers } : {}),
      ...(input.tags !== undefined ? { tags: input.tags } : {}),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      ...(input.send_at !== undefined ? { send_at: input.send_at } : {}),
    },
    now,
    1,
  );
  let parts: TemplateParts;
  let templateId: string | null = null;
  let templateVersion: number | null = null;
  if (input.template_id !== undefined) {
    if (input.html !== undefined || input.text !== undefined) {
      throw invalid('template_id', 'give either template_id or html/text, not both (subject may override the template\'s)');
    }
    const version = await resolveTemplateVersion(deps, workspaceId, input.template_id, input.template_version);
    parts = { subject: input.subject ?? version.subject, html: version.html ?? undefined, text: version.text ?? undefined };
    templateId = version.templateId;
    templateVersion = version.version;
  } else {
    if (input.html === undefined && input.text === undefined) throw new HeraldError('missing_content');
    parts = { subject: input.subject ?? '', html: input.html, text: input.text };
  }
  assertHeaderSafe('subject', parts.subject);
  const requiredVariables = checkTemplateParts(parts);
  const stream = input.stream ?? 'broadcast';
  if (stream !== 'broadcast' && stream !== 'transactional') throw invalid('stream', 'must be broadcast or transactional');
  const perHour = input.rate?.per_hour;
  if (perHour !== undefined && !(Number.isInteger(perHour) && perHour >= 1 && perHour <= 100_000_000)) {
    throw invalid('rate.per_hour', 'must be a whole number from 1 to 100000000');
  }
  let canary: CanaryOptions | null = null;
  if (input.canary !== undefined) {
    const percent = input.canary.percent;
    if (typeof percent !== 'number' || !(percent >= 1 && percent <= 50)) throw invalid('canary.percent', 'must be a number from 1 to 50');
    const holdSeconds = input.canary.hold_seconds ?? 600;
    if (!(Number.isInteger(holdSeconds) && holdSeconds >= 0 && holdSeconds <= 7 * 86400)) throw invalid('canary.hold_seconds', 'must be a whole number of seconds up to 604800');
    canary = { percent, hold: input.canary.hold ?? true, holdSeconds };
  }
  const onMissingVariable = input.policies?.on_missing_variable ?? 'reject_row';
  if (!POLICIES.includes(onMissingVariable)) throw invalid('policies.on_missing_variable', `must be one of ${POLICIES.join(', ')}`);
  const minOutcomes = input.policies?.min_outcomes ?? DEFAULT_GUARD_RAILS.minOutcomes;
  if (!(Number.isInteger(minOutcomes) && minOutcomes >= 1)) throw invalid('policies.min_outcomes', 'must be a whole number of at least 1');
  const guardRails: GuardRails = {
    maxBounceRate: rate('policies.max_bounce_rate', input.policies?.max_bounce_rate, DEFAULT_GUARD_RAILS.maxBounceRate),
    maxComplaintRate: rate('policies.max_complaint_rate', input.policies?.max_complaint_rate, DEFAULT_GUARD_RAILS.maxComplaintRate),
    minOutcomes,
  };
  // Read from the workspace even without html: the batch shows the option back.
  const tracking = await resolveWorkspaceTracking(deps, workspaceId, input.tracking, { readWorkspace: true });
  const frequencyCap = validFrequencyCap(input.frequency_cap, stream);
  const content: ValidBatchOptions['content'] = {
    kind: 'template',
    from: email.from,
    replyTo: email.replyTo,
    subject: parts.subject,
    headers: email.headers,
    templateId,
    templateVersion,
    revision: 1,
    ...(parts.html !== undefined ? { html: parts.html } : {}),
    ...(parts.text !== undefined ? { text: parts.text } : {}),
    ...(tracking !== undefined && parts.html !== undefined ? { tracking } : {}),
  };
  return {
    from: email.from,
    content,
    requiredVariables,
    stream,
    tags: email.tags,
    metadata: email.metadata,
    sendAt: email.sendAt,
    perHour: perHour ?? null,
    canary,
    onMissingVariable,
    guardRails,
    frequencyCap,
    shown: {
      from: email.from.name ? `${email.from.name} <${email.from.email}>` : email.from.email,
      template_id: templateId,
      template_version: templateVersion,
      stream,
      tags: email.tags,
      send_at: email.sendAt?.toISOString() ?? null,
      rate: perHour === undefined ? null : { per_hour: perHour },
      canary: canary === null ? null : { percent: canary.percent, hold: canary.hold, hold_seconds: canary.holdSeconds },
      policies: {
        on_missing_variable: onMissingVariable,
        max_bounce_rate: guardRails.maxBounceRate,
        max_complaint_rate: guardRails.maxComplaintRate,
        min_outcomes: guardRails.minOutcomes,
      },
      tracking: trackingShown(tracking),
      frequency_cap: frequencyCapShown(frequencyCap),
    },
  };
}
