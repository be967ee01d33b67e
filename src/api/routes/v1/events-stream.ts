/**
 * `GET /v1/events/stream`: the workspace's event log as Server-Sent Events. Events come from the
 * store's log (so any process serves any client, whichever process wrote them), read again as
 * soon as any process appends events (LISTEN/NOTIFY on PostgreSQL) and at least once a second. Each event's `id` is its sequence number: a client reconnecting with `Last-Event-ID`
 * gets everything it missed, in order, nothing twice. Without it, only events newer than the
 * connection, or after `?after=<cursor>` of `GET /v1/events`. `?type=` filters as on
 * `GET /v1/events`. Open streams are ended when the app closes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../services/deps.js';
import type { EventStreamQueryT } from '../../schemas.js';
import { eventsAfter, latestEventSeq, nextEvents, startEventStream } from '../../../services/events.js';
import type { ApiContext } from '../../context.js';
import { eventLogView } from '../../views.js';
import { openEventStream } from '../../sse.js';

/** The longest wait between two reads of the log; a new event (from any process) ends it at once. */
const POLL_MS = 1000;
const PAGE = 500;
const KEEPALIVE_MS = 15_000;
/** How long a client waits before reconnecting after the stream ends (the SSE `retry` field). */
const RETRY_MS = 2000;

export async function streamEvents(ctx: ApiContext, principal: Principal, query: EventStreamQueryT, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const lastEventId = request.headers['last-event-id'];
  // Validated (scope, filter, position) before the response starts, so errors are plain JSON.
  const start = await startEventStream(ctx.deps, principal, {
    ...(typeof lastEventId === 'string' ? { lastEventId } : {}),
    ...(query.after !== undefined ? { after: query.after } : {}),
    ...(query.type !== undefined ? { type: query.type } : {}),
  });
  const filtered = start.filter.types !== undefined || start.filter.prefixes !== undefined;
  let after = start.after;
  const { out, isOpen } = openEventStream(ctx, reply);
  out.write(`retry: ${RETRY_MS}\n\n`);
  let lastWrite = Date.now();
  while (isOpen()) {
    let page;
    let horizon = 0;
    try {
      // Read before the page: everything up to it has committed (see services/events.ts).
      if (filtered) horizon = await latestEventSeq(ctx.deps, principal);
      page = await eventsAfter(ctx.deps, principal, after, start.filter, PAGE);
    } catch {
      out.write('event: error\ndata: {"error":{"code":"store_unavailable","message":"the store did not answer; reconnect with Last-Event-ID"}}\n\n');
      out.end();
      return;
    }
    for (const event of page) {
      out.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventLogView(event))}\n\n`);
      after = event.seq;
      lastWrite = Date.now();
    }
    if (page.length < PAGE) after = Math.max(after, horizon);
    if (Date.now() - lastWrite > KEEPALIVE_MS) {
      out.write(': keep-alive\n\n');
      lastWrite = Date.now();
    }
    if (page.length < PAGE) await nextEvents(ctx.deps, POLL_MS);
  }
}
