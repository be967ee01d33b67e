/**
 * `/t/o/:token` and `/t/c/:token`: the public open pixel and click redirect that tracked mail
 * points at. No API key, no cookies; the signed token is the only credential. Each handler calls
 * the tracking service.
 *
 * - `GET /t/o/:token`: always the same 43-byte transparent GIF, never cached, whatever the token:
 *   a mail client shows nothing either way, and a prober learns nothing. A bad token is logged.
 * - `GET /t/c/:token`: a 302 to the URL the token signs, only when it verifies; anything else
 *   answers 404 with a short page and redirects nowhere, so the endpoint is no open redirect.
 *
 * Rate-limited per client address for what it writes, not for what it answers: over the limit a
 * request still gets its pixel or its redirect (a reader behind a busy image proxy must not see a
 * broken link), but records nothing.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { clickDestination, followClick, recordOpen, type EngagementSource, type TrackingSettings } from '../../services/tracking.js';
import type { ApiContext } from '../context.js';
import { createRateLimiter } from '../rate-limit.js';
import { escapeHtml, PAGE_HEADERS } from '../unsubscribe-page.js';

/** Recorded requests per second per client address (bursts of twice that): image proxies fetch for many readers. */
export const TRACKING_RATE_PER_IP = 50;

/** A 1x1 transparent GIF, 43 bytes. */
export const PIXEL_GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

const PIXEL_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'image/gif',
  'cache-control': 'no-store, no-cache, must-revalidate, max-age=0',
  pragma: 'no-cache',
  expires: '0',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
  'x-content-type-options': 'nosniff',
});

const TAGS = ['tracking'];
const Params = Type.Object({ token: Type.String({ description: 'The signed token from the tracked mail' }) });
type ParamsT = Static<typeof Params>;

function notFoundPage(): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
    `<title>${escapeHtml('Link not valid')}</title></head>` +
    '<body style="font:16px/1.5 sans-serif;padding:48px 16px;color:#222"><main style="max-width:28rem;margin:0 auto">' +
    '<h1 style="font-size:1.25rem">This link is not valid</h1>' +
    '<p>It may have been cut short or changed. Open the link from the original email again.</p></main></body></html>\n'
  );
}

function sourceOf(request: { headers: Record<string, string | string[] | undefined>; ip: string }): EngagementSource {
  const agent = request.headers['user-agent'];
  return { userAgent: typeof agent === 'string' ? agent : '', ip: request.ip };
}

export async function trackingRoutes(app: FastifyInstance, ctx: ApiContext, settings: TrackingSettings): Promise<void> {
  const limiter = createRateLimiter(TRACKING_RATE_PER_IP);

  app.get<{ Params: ParamsT }>(
    '/t/o/:token',
    {
      schema: {
        tags: TAGS,
        summary: 'The open pixel (public)',
        description: 'Answers a 43-byte transparent GIF, never cached, for any token; records message.opened when the token is valid.',
        security: [],
        params: Params,
      },
    },
    async (request, reply) => {
      void reply.headers(PIXEL_HEADERS);
      try {
        if (limiter.take(request.ip) > 0) {
          request.log.debug({ reason: 'rate_limited' }, 'open not recorded');
        } else {
          const outcome = await recordOpen(ctx.deps, settings, request.params.token, sourceOf(request));
          if (outcome.reason === 'repeat_open') request.log.debug({ reason: outcome.reason }, 'open not recorded');
          else if (!outcome.recorded) request.log.info({ reason: outcome.reason }, 'open not recorded');
        }
      } catch (error) {
        // The pixel is answered whatever the store says: a reader's mail client shows nothing either way.
        request.log.error({ err: error }, 'recording an open failed');
      }
      return reply.send(PIXEL_GIF);
    },
  );

  app.get<{ Params: ParamsT }>(
    '/t/c/:token',
    {
      schema: {
        tags: TAGS,
        summary: 'A tracked link (public)',
        description:
          'Redirects (302) to the URL the token signs and records message.clicked; a token that does not verify answers 404 and redirects nowhere.',
        security: [],
        params: Params,
      },
    },
    async (request, reply) => {
      const source = sourceOf(request);
      let url: string | null = null;
      try {
        if (limiter.take(request.ip) > 0) {
          url = clickDestination(settings, request.params.token);
          request.log.debug({ reason: 'rate_limited' }, 'click not recorded');
        } else {
          const outcome = await followClick(ctx.deps, settings, request.params.token, source);
          url = outcome.url;
          if (!outcome.recorded) request.log.info({ reason: outcome.reason }, 'click not recorded');
        }
      } catch (error) {
        // The store failed; the token may still be good: the reader goes on, the click is lost.
        request.log.error({ err: error }, 'recording a click failed');
        url = clickDestination(settings, request.params.token);
      }
      const location = url === null ? null : asLocation(url);
      if (location === null) return reply.status(404).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(notFoundPage());
      return reply.headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(location, 302);
    },
  );
}

/**
 * The signed URL as a Location header: percent-encoded, since a header may only carry ASCII
 * (a link to `https://example.com/日本` would otherwise fail the response). Null if it does not parse.
 */
function asLocation(url: string): string | null {
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
}
