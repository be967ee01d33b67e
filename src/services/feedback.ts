/**
 * Closing the loop: bounce reports, complaint reports and delivery reports about sent messages,
 * from the bounce listener (mail to the bounce domain) and from provider webhooks
 * (`POST /v1/feedback/{provider}`), become events, state changes and suppressions.
 *
 * Each fact is tied to one message (feedback-attribution.ts), judged by core/feedback-policy.ts,
 * and recorded by the store in one transaction with the message's state change, its event and
 * the suppression entries it causes: hard bounces and complaints suppress the recipient in scope
 * `all` at once; soft bounces are counted and suppress at `--soft-bounce-limit` within
 * `--soft-bounce-window`. A report is recorded at most once per (message, kind), so the same DSN
 * delivered twice, or a provider's retry, counts once.
 *
 * Nothing here throws on bad input: every fact that does nothing comes back with its reason, for
 * the caller (listener, route) to log and report. Store errors do throw: the caller answers with
 * a temporary failure so that the report is sent again.
 */
import { normaliseAddress } from '../core/address.js';
import {
  eventTypeFor,
  SOFT_BOUNCE_SOURCE,
  softBounceWindowStart,
  supersedes,
  transitionFor,
  verdictForFact,
  type FeedbackVerdict,
} from '../core/feedback-policy.js';
import type { SuppressionReason } from '../core/suppression.js';
import type { FeedbackFact, FeedbackProvider } from '../feedback/feedback-types.js';
import { parseProviderFeedback } from '../feedback/providers.js';
import { readInboundReport } from '../feedback/report.js';
import type { NewEvent, NewSuppression } from '../store/store.js';
import { bounceAddressKind, readBounceToken, type ReturnPathDomains } from '../tracking/verp.js';
import type { Principal, ServiceDeps } from './deps.js';
import { byMessageIdHeader, factsForVerpMessage, inWorkspace, verpMessageId, type Attributed, type Attribution } from './feedback-attribution.js';
import { requireScope } from './keys.js';
import { suppressionRecord } from './suppressions.js';
import { unsubscribeByMailto } from './unsubscribe.js';

/** What feedback handling needs beyond the services' dependencies, fixed at start. */
export interface FeedbackSettings {
  /** The key bounce-domain addresses are signed with (`--secret-key`). */
  key: Uint8Array;
  /** `--bounce-domain`; null: none (provider webhooks still work). */
  bounceDomain: string | null;
  /**
   * The verified sending domains, whose return-path hosts `bounces.<domain>` take VERP and
   * unsubscribe mail too; none: the bounce domain only.
   */
  returnPathDomains?: Pick<ReturnPathDomains, 'isReturnPathDomain'> | null | undefined;
  /** `--soft-bounce-limit`. */
  softBounceLimit: number;
  /** `--soft-bounce-window`, seconds. */
  softBounceWindowSeconds: number;
}

/** What one fact did. */
export type FactOutcome =
  | { recorded: true; messageId: string; workspaceId: string; event: 'message.bounced' | 'message.complained' | 'message.delivered'; suppressed: SuppressionReason | null; softBounces: number | null }
  | { recorded: false; messageId: string | null; recipient: string | null; reason: string };

/** What one inbound mail or one provider post did, fact by fact; `reason` when it was refused as a whole. */
export interface FeedbackResult {
  format: string | null;
  outcomes: FactOutcome[];
  reason?: string;
}

/** The listener's verdict on an envelope recipient, before the message is read. */
export type InboundRecipient =
  | { accept: true; kind: 'verp' | 'unsubscribe'; messageId: string }
  | { accept: true; kind: 'feedback_loop' }
  | { accept: false; reason: string };

/**
 * Whether the listener takes mail for `address`: a VERP or unsubscribe address whose token
 * verifies, or a feedback-loop address (`fbl@`, `abuse@`, `arf@`), at the bounce domain; a VERP
 * or unsubscribe address whose token verifies at the return-path host `bounces.<domain>` of a
 * verified sending domain. The token is the gate: it names one message and cannot be made up.
 */
export function inboundRecipient(settings: FeedbackSettings, address: string): InboundRecipient {
  const host = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  const atBounceDomain = settings.bounceDomain !== null && host === settings.bounceDomain.toLowerCase();
  const atReturnPath = !atBounceDomain && address.includes('@') && settings.returnPathDomains?.isReturnPathDomain(host) === true;
  if (!atBounceDomain && !atReturnPath) {
    return { accept: false, reason: settings.bounceDomain === null && !settings.returnPathDomains ? 'no bounce domain is configured' : 'not an address of the bounce domain or of a verified return-path domain' };
  }
  const kind = bounceAddressKind(address, host);
  switch (kind.kind) {
    case 'feedback_loop':
      // Feedback loops are registered for the bounce domain only.
      return atBounceDomain ? { accept: true, kind: 'feedback_loop' } : { accept: false, reason: 'feedback-loop addresses are at the bounce domain only' };
    case 'verp':
    case 'unsubscribe': {
      const messageId = readBounceToken(settings.key, kind.kind, kind.token);
      return messageId === null ? { accept: false, reason: `${kind.kind} token does not verify` } : { accept: true, kind: kind.kind, messageId };
    }
    default:
      return { accept: false, reason: 'not a VERP, unsubscribe or feedback-loop address' };
  }
}

/**
 * Handles one message that came to an accepted bounce-domain address: an unsubscribe by mail, or
 * a bounce / complaint report (parsed with `src/feedback/`, attributed, recorded).
 *
 * @example
 * const to = inboundRecipient(settings, 'bounces+0lzx…-k3x5…@bounce.example.com');
 * if (to.accept) await recordInboundMail(deps, settings, to, rawMessage);
 */
export async function recordInboundMail(
  deps: ServiceDeps,
  settings: FeedbackSettings,
  to: Extract<InboundRecipient, { accept: true }>,
  raw: Buffer,
): Promise<FeedbackResult> {
  if (to.kind === 'unsubscribe') {
    const result = await unsubscribeByMailto(deps, to.messageId);
    return result === null
      ? { format: 'mailto', outcomes: [{ recorded: false, messageId: to.messageId, recipient: null, reason: 'no broadcast message for this unsubscribe address' }] }
      : { format: 'mailto', outcomes: [], ...(result.changed ? {} : { reason: `${result.recipient} was already unsubscribed` }) };
  }
  const { result, envelopeSenders } = await readInboundReport(raw);
  if (!result.ok) return { format: null, outcomes: [], reason: result.reason };
  const verpId = to.kind === 'verp' ? to.messageId : (envelopeSenders.map((sender) => verpMessageId(settings.key, sender)).find((id) => id !== null) ?? null);
  let attributed: Attributed[];
  if (verpId !== null) {
    const message = await deps.store.findMessageById(verpId);
    attributed = message === null ? [{ ok: false, fact: null, reason: `no message ${verpId}` }] : factsForVerpMessage(result.facts, message);
  } else {
    attributed = [];
    for (const fact of result.facts) attributed.push(await byMessageIdHeader(deps, fact));
  }
  const source = result.format === 'arf' ? 'arf' : 'dsn';
  const outcomes: FactOutcome[] = [];
  for (const item of attributed) outcomes.push(await applyAttributed(deps, settings, item, source, result.format));
  return { format: result.format, outcomes };
}

/**
 * Reads one provider webhook body and records its facts for the posting key's workspace; a
 * message of another workspace is not found, and its fact is ignored.
 *
 * @example
 * const result = await recordProviderFeedback(deps, settings, principal, 'ses', request.body);
 * // { format: 'ses', outcomes: [{ recorded: true, event: 'message.bounced', suppressed: 'hard_bounce', … }] }
 */
export async function recordProviderFeedback(
  deps: ServiceDeps,
  settings: FeedbackSettings,
  principal: Principal,
  provider: FeedbackProvider,
  body: unknown,
): Promise<FeedbackResult> {
  requireScope(principal, 'send');
  const parsed = parseProviderFeedback(provider, body);
  if (!parsed.ok) return { format: provider, outcomes: [], reason: parsed.reason };
  const outcomes: FactOutcome[] = [];
  for (const fact of parsed.facts) {
    outcomes.push(await applyAttributed(deps, settings, await inWorkspace(deps, principal.workspaceId, fact), provider, parsed.format));
  }
  return { format: parsed.format, outcomes };
}

async function applyAttributed(deps: ServiceDeps, settings: FeedbackSettings, item: Attributed, source: string, format: string): Promise<FactOutcome> {
  if (!item.ok) return { recorded: false, messageId: null, recipient: item.fact?.recipient ?? null, reason: item.reason };
  const verdict = verdictForFact(item.fact);
  if (verdict.effect === 'ignore') return { recorded: false, messageId: item.message.id, recipient: item.message.recipient, reason: verdict.reason };
  return recordVerdict(deps, settings, item, verdict, source, format);
}

async function recordVerdict(
  deps: ServiceDeps,
  settings: FeedbackSettings,
  item: Extract<Attributed, { ok: true }>,
  verdict: Exclude<FeedbackVerdict, { effect: 'ignore' }>,
  source: string,
  format: string,
): Promise<FactOutcome> {
  const { message, fact } = item;
  const now = deps.clock.now();
  const at = now.toISOString();
  const recipient = normaliseAddress(message.recipient);
  const existing = (await deps.store.findSuppressed(message.workspaceId, 'broadcast', [recipient])).get(recipient);
  const entry = (reason: SuppressionReason, entrySource: string): NewSuppression =>
    suppressionRecord(deps, message.workspaceId, { email: recipient, reason, scope: 'all', source: entrySource }, at);
  const immediate: SuppressionReason | null =
    verdict.effect === 'complaint' ? 'complaint' : verdict.effect === 'bounce' && verdict.bounceClass === 'hard' ? 'hard_bounce' : null;
  const suppressions = immediate !== null && supersedes(existing, immediate) ? [entry(immediate, source)] : [];
  const soft = verdict.effect === 'bounce' && verdict.bounceClass === 'soft';
  const transition = transitionFor(verdict);
  const type = eventTypeFor(verdict);
  const event: NewEvent = {
    id: deps.ids.next('event'),
    workspaceId: message.workspaceId,
    type,
    messageId: message.id,
    batchId: message.batchId,
    recipient: message.recipient,
    data: { ...eventData(fact, source, format, item.by, message.recipient), tags: message.tags, metadata: message.metadata },
    createdAt: at,
  };
  const outcome = await deps.store.recordFeedback({
    workspaceId: message.workspaceId,
    messageId: message.id,
    kind: verdict.effect,
    recipient,
    bounceClass: verdict.effect === 'bounce' ? verdict.bounceClass : null,
    source,
    from: transition.from,
    to: transition.to,
    lastReply: fact.kind === 'bounce' ? (fact.diagnostic ?? fact.status) : null,
    event,
    suppressions,
    ...(soft && supersedes(existing, 'hard_bounce')
      ? {
          softBounceLimit: {
            since: softBounceWindowStart(now, settings.softBounceWindowSeconds).toISOString(),
            limit: settings.softBounceLimit,
            suppression: entry('hard_bounce', SOFT_BOUNCE_SOURCE),
          },
        }
      : {}),
    now: at,
  });
  if (outcome.kind === 'duplicate') return { recorded: false, messageId: message.id, recipient: message.recipient, reason: `message ${message.id} already has this ${verdict.effect} report` };
  if (outcome.kind === 'not_applicable') {
    return { recorded: false, messageId: message.id, recipient: message.recipient, reason: `message ${message.id} is ${outcome.status ?? 'gone'}; a ${verdict.effect} report does not apply` };
  }
  const written = outcome.suppressions.find((write) => write.change !== 'unchanged');
  return {
    recorded: true,
    messageId: message.id,
    workspaceId: message.workspaceId,
    event: type,
    suppressed: written?.suppression.reason ?? null,
    softBounces: outcome.softBounces,
  };
}

/** The event's data: what the report said, where it came from, and how it was tied to the message. */
function eventData(fact: FeedbackFact, source: string, format: string, by: Attribution, messageRecipient: string): Record<string, unknown> {
  const common = {
    source,
    format,
    attributed_by: by,
    ...(fact.recipient !== null && fact.recipient.toLowerCase() !== messageRecipient.toLowerCase() ? { reported_recipient: fact.recipient } : {}),
    ...(fact.providerMessageId !== undefined ? { provider_message_id: fact.providerMessageId } : {}),
  };
  switch (fact.kind) {
    case 'bounce':
      return {
        ...common,
        bounce_class: fact.bounceClass,
        enhanced_status: fact.status,
        diagnostic: fact.diagnostic,
        remote_mta: fact.remoteMta,
        reporting_mta: fact.reportingMta,
      };
    case 'complaint':
      return { ...common, feedback_type: fact.feedbackType, user_agent: fact.userAgent, arrival_date: fact.arrivalDate };
    case 'delivered':
      return common;
  }
}

/**
 * The topic and confirmation URL of an SNS `SubscriptionConfirmation` posted to the SES route;
 * null for any other body. Herald does not fetch the URL (it comes from whoever posted): the
 * route logs it for an operator to open once.
 */
export function snsSubscriptionConfirmation(body: unknown): { topicArn: string | null; subscribeUrl: string | null } | null {
  let value: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString()) as unknown;
    } catch {
      return null;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (record.Type !== 'SubscriptionConfirmation') return null;
  const text = (key: string): string | null => (typeof record[key] === 'string' ? (record[key] as string).slice(0, 2048) : null);
  return { topicArn: text('TopicArn'), subscribeUrl: text('SubscribeURL') };
}
