/**
 * The entry point for provider webhooks posted to `POST /v1/feedback/{provider}`: decodes the
 * body and hands it to that provider's reader.
 *
 * Owns: the dispatch and the never-throw guarantee. Must not: verify signatures or credentials
 * (the route does, on the raw body, before calling this), match facts to messages, or do I/O.
 */
import { refuse, refuseError } from './feedback-limits.js';
import type { FeedbackProvider, ParseResult } from './feedback-types.js';
import { jsonBody } from './json-fields.js';
import { mailgunFeedback } from './provider-mailgun.js';
import { postmarkFeedback } from './provider-postmark.js';
import { sendgridFeedback } from './provider-sendgrid.js';
import { sesFeedback } from './provider-ses.js';

const READERS: Readonly<Record<FeedbackProvider, (body: unknown) => ParseResult>> = {
  ses: sesFeedback,
  sendgrid: sendgridFeedback,
  mailgun: mailgunFeedback,
  postmark: postmarkFeedback,
};

/**
 * Reads one webhook body (already-parsed JSON, or the raw string/Buffer) from `provider`. Never
 * throws: a body of the wrong shape comes back as `{ ok: false, reason }` naming what was wrong.
 *
 * @example
 * const result = parseProviderFeedback('ses', request.body);
 * if (result.ok) await feedback.record(result.facts);
 */
export function parseProviderFeedback(provider: FeedbackProvider, body: unknown): ParseResult {
  const read = Object.hasOwn(READERS, provider) ? READERS[provider] : undefined;
  if (read === undefined) return refuse(`unknown feedback provider ${String(provider).slice(0, 40)}`);
  try {
    const json = jsonBody(body, provider);
    return json.ok ? read(json.value) : json;
  } catch (error) {
    // The readers are written not to throw; this keeps a bug in one from reaching the route.
    return refuseError(`${provider} feedback`, error);
  }
}
