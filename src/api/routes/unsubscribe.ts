/**
 * `/u/:token`: the public unsubscribe endpoints the links in broadcast mail point at. No API key,
 * no cookies; the signed token is the only credential. Each handler calls the unsubscribe service.
 *
 * - `POST /u/:token`: RFC 8058 one-click, as Gmail and Yahoo send it (`List-Unsubscribe=One-Click`
 *   as `application/x-www-form-urlencoded` or `multipart/form-data`): 200 and a short text, never
 *   a redirect. The hosted page's button posts the same form with `via=page` and gets a page back.
 * - `GET /u/:token`: the hosted confirm page; it changes nothing (link scanners follow GETs).
 *
 * A token that does not verify answers 404, a POST without the one-click body 400; neither has any
 * effect. Rate-limited per client address, modestly: one recipient clicks once.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '../../core/errors.js';
import { resolveUnsubscribeToken, unsubscribe, type UnsubscribeSettings } from '../../services/unsubscribe.js';
import type { ApiContext } from '../context.js';
import { acceptForms, formField } from '../form-body.js';
import { createRateLimiter } from '../rate-limit.js';
import { confirmPage, donePage, invalidPage, PAGE_FIELD, PAGE_FIELD_VALUE, PAGE_HEADERS } from '../unsubscribe-page.js';

/** Requests per second per client address (bursts of twice that). */
export const UNSUBSCRIBE_RATE_PER_IP = 10;
/** Largest form body accepted, bytes. */
const FORM_LIMIT = 8 * 1024;

const TAGS = ['unsubscribe'];
const Params = Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048, description: 'The signed token from the List-Unsubscribe URL' }) });
type ParamsT = Static<typeof Params>;
const OneClickBody = Type.Object(
  {
    'List-Unsubscribe': Type.Optional(Type.String({ description: 'Must be One-Click (RFC 8058)' })),
    [PAGE_FIELD]: Type.Optional(Type.String({ description: 'page: sent by the hosted page, which gets an HTML answer' })),
  },
  { additionalProperties: true },
);

const TEXT = 'text/plain; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

function refusal(error: unknown): HeraldError | null {
  return error instanceof HeraldError && (error.code === 'invalid_unsubscribe_link' || error.code === 'one_click_body_required') ? error : null;
}

export async function unsubscribeRoutes(app: FastifyInstance, ctx: ApiContext, settings: UnsubscribeSettings): Promise<void> {
  const limiter = createRateLimiter(UNSUBSCRIBE_RATE_PER_IP);
  acceptForms(app, FORM_LIMIT);
  app.addHook('onRequest', async (request, reply) => {
    void reply.headers(PAGE_HEADERS);
    const wait = limiter.take(request.ip);
    if (wait > 0) throw new HeraldError('rate_limited', { limit: limiter.perSecond, retry_after: wait });
  });

  app.get<{ Params: ParamsT }>(
    '/u/:token',
    {
      schema: {
        tags: TAGS,
        summary: 'The hosted unsubscribe page (public)',
        description: 'Shows a confirm button that posts the one-click form to this URL; works without JavaScript. Changes nothing by itself.',
        security: [],
        params: Params,
      },
    },
    async (request, reply) => {
      try {
        const subject = resolveUnsubscribeToken(settings, request.params.token);
        return reply.type(HTML).send(confirmPage(subject.recipient));
      } catch (error) {
        const refused = refusal(error);
        if (refused === null) throw error;
        return reply.status(refused.status).type(HTML).send(invalidPage());
      }
    },
  );

  app.post<{ Params: ParamsT }>(
    '/u/:token',
    {
      schema: {
        tags: TAGS,
        summary: 'One-click unsubscribe (RFC 8058, public)',
        description:
          'The POST a mailbox provider sends for List-Unsubscribe-Post: body List-Unsubscribe=One-Click, no authentication. ' +
          'Suppresses the recipient for broadcast mail and answers 200 (never a redirect); repeating it changes nothing.',
        security: [],
        consumes: ['application/x-www-form-urlencoded', 'multipart/form-data'],
        params: Params,
        body: OneClickBody,
      },
    },
    async (request, reply) => answerPost(request, reply, settings, ctx),
  );
}

async function answerPost(request: FastifyRequest<{ Params: ParamsT }>, reply: FastifyReply, settings: UnsubscribeSettings, ctx: ApiContext) {
  const fromPage = formField(request.body, PAGE_FIELD) === PAGE_FIELD_VALUE;
  try {
    const result = await unsubscribe(ctx.deps, settings, request.params.token, {
      field: formField(request.body, 'List-Unsubscribe'),
      method: fromPage ? 'page' : 'one_click',
    });
    request.log.info({ changed: result.changed, method: fromPage ? 'page' : 'one_click' }, 'unsubscribed');
    if (fromPage) return reply.type(HTML).send(donePage(result.recipient));
    return reply.type(TEXT).send('You are unsubscribed.\n');
  } catch (error) {
    const refused = refusal(error);
    if (refused === null) throw error;
    if (fromPage) return reply.status(refused.status).type(HTML).send(invalidPage());
    return reply.status(refused.status).type(TEXT).send(`${refused.message}\n`);
  }
}
