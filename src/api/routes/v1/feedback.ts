/**
 * `POST /v1/feedback/{ses|sendgrid|mailgun|postmark}`: provider webhooks (bounces, complaints,
 * deliveries) for mail Herald sent through that provider, recorded for the posting key's
 * workspace (scope `send`). Providers authenticate with the workspace's key as HTTP Basic
 * credentials in the webhook URL (`https://KEY_ID:SECRET@host/v1/feedback/ses`) or a bearer
 * header. Holds no rules: the feedback service reads, attributes and records.
 *
 * Every authenticated JSON (or SNS `text/plain`) body is answered `200` with what was recorded
 * and what was ignored, and why: a body that can never be recorded must not be retried by the
 * provider for days. An SNS SubscriptionConfirmation is logged with its URL for an operator to
 * open; Herald never fetches a URL it was sent.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_REPORT_BYTES } from '../../../feedback/feedback-limits.js';
import { recordProviderFeedback, snsSubscriptionConfirmation, type FeedbackSettings } from '../../../services/feedback.js';
import { authenticate } from '../../auth.js';
import type { ApiContext } from '../../context.js';

const TAGS = ['feedback'];
const SECURITY: Record<string, string[]>[] = [{ basic: [] }, { bearer: [] }];
const ERRORS = { '4xx': Type.Ref('Error') };
const PROVIDERS = ['ses', 'sendgrid', 'mailgun', 'postmark'] as const;

const Params = Type.Object({
  provider: Type.Union(
    PROVIDERS.map((provider) => Type.Literal(provider)),
    { description: PROVIDERS.join(' | ') },
  ),
});
type ParamsT = Static<typeof Params>;

const FeedbackAnswer = Type.Object({
  accepted: Type.Integer({ description: 'Reports recorded (an event written, and a suppression where one was due)' }),
  ignored: Type.Array(
    Type.Object({
      index: Type.Union([Type.Integer(), Type.Null()], { description: 'The report among those read from the body (0-based); null: the body as a whole' }),
      recipient: Type.Union([Type.String(), Type.Null()]),
      reason: Type.String(),
    }),
  ),
});

export async function feedbackRoutes(app: FastifyInstance, ctx: ApiContext, settings: FeedbackSettings): Promise<void> {
  app.post<{ Params: ParamsT }>(
    '/v1/feedback/:provider',
    {
      bodyLimit: MAX_REPORT_BYTES,
      schema: {
        tags: TAGS,
        summary: 'Bounce, complaint and delivery webhooks of SES (SNS), SendGrid, Mailgun and Postmark',
        description:
          'Point the provider at this URL with the key in it (https://KEY_ID:SECRET@host/v1/feedback/ses). ' +
          'Hard bounces and complaints suppress the recipient at once; soft bounces at --soft-bounce-limit within --soft-bounce-window. ' +
          'Events about messages of another workspace are ignored.',
        security: SECURITY,
        consumes: ['application/json', 'text/plain'],
        params: Params,
        response: { 200: FeedbackAnswer, ...ERRORS },
      },
    },
    async (request) => {
      const principal = await authenticate(ctx.deps, ctx.limiter, request);
      const { provider } = request.params;
      const subscription = provider === 'ses' ? snsSubscriptionConfirmation(request.body) : null;
      if (subscription !== null) {
        request.log.warn(
          { topicArn: subscription.topicArn, subscribeUrl: subscription.subscribeUrl, workspaceId: principal.workspaceId },
          'SNS subscription confirmation received: Herald does not fetch it; open SubscribeURL once to confirm the subscription',
        );
        return { accepted: 0, ignored: [{ index: null, recipient: null, reason: 'SNS SubscriptionConfirmation: not confirmed by Herald; the SubscribeURL is in the log' }] };
      }
      const result = await recordProviderFeedback(ctx.deps, settings, principal, provider, request.body);
      const ignored: { index: number | null; recipient: string | null; reason: string }[] = [];
      if (result.reason !== undefined) ignored.push({ index: null, recipient: null, reason: result.reason });
      result.outcomes.forEach((outcome, index) => {
        if (!outcome.recorded) ignored.push({ index, recipient: outcome.recipient, reason: outcome.reason });
      });
      const accepted = result.outcomes.filter((outcome) => outcome.recorded).length;
      request.log.info({ provider, workspaceId: principal.workspaceId, accepted, ignored: ignored.length, reasons: ignored.slice(0, 5).map((item) => item.reason) }, 'provider feedback');
      return { accepted, ignored };
    },
  );
}
