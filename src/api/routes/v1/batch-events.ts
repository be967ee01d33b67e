/**
 * `GET /v1/batches/:id/events` as Server-Sent Events. Events come from the store's log (so any
 * process serves any client, whichever worker wrote them), read again as soon as any process
 * appends events and at least once a second. Each event's
 * `id` is its sequence number: a client reconnecting with `Last-Event-ID` gets what it missed.
 * Without it, the stream starts with a `batch.state` snapshot and then everything new. The stream
 * ends after `batch.completed` or `batch.cancelled`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { batchEventsAfter, getBatch } from '../../../services/batch-control.js';
import type { Principal } from '../../../services/deps.js';
import { nextEvents } from '../../../services/events.js';
import { batchView } from '../../batch-views.js';
import type { ApiContext } from '../../context.js';
import { openEventStream } from '../../sse.js';

/** The longest wait between two reads of the log; a new event (from any process) ends it at once. */
const POLL_MS = 1000;
const KEEPALIVE_MS = 15_000;
const FINAL = new Set(['batch.completed', 'batch.cancelled']);

export async function streamBatchEvents(ctx: ApiContext, principal: Principal, id: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const lastEventId = request.headers['last-event-id'];
  let after = typeof lastEventId === 'string' && /^\d+$/.test(lastEventId) ? Number(lastEventId) : -1;
  // Checks the batch exists (404 otherwise) before the stream starts.
  const state = await getBatch(ctx.deps, principal, id);
  if (after < 0) {
    // Skip the history: start from the latest event, after a snapshot of now.
    after = 0;
    for (;;) {
      const page = await batchEventsAfter(ctx.deps, principal, id, after, 1000);
      if (page.events.length === 0) break;
      after = page.events.at(-1)?.seq ?? after;
      if (page.events.length < 1000) break;
    }
  }
  const { out, isOpen } = openEventStream(ctx, reply);
  if (typeof lastEventId !== 'string') out.write(`event: batch.state\ndata: ${JSON.stringify(batchView(state))}\n\n`);
  if (['completed', 'cancelled'].includes(state.batch.status) && typeof lastEventId !== 'string') {
    out.end();
    return;
  }
  let lastWrite = Date.now();
  while (isOpen()) {
    let page;
    try {
      page = await batchEventsAfter(ctx.deps, principal, id, after);
    } catch {
      out.write('event: error\ndata: {"error":{"code":"store_unavailable","message":"the store did not answer; reconnect with Last-Event-ID"}}\n\n');
      out.end();
      return;
    }
    let finished = false;
    for (const event of page.events) {
      out.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify({ id: event.id, type: event.type, batch_id: event.batchId, created_at: event.createdAt, data: event.data })}\n\n`);
      after = event.seq;
      lastWrite = Date.now();
      if (FINAL.has(event.type)) finished = true;
    }
    if (finished) break;
    if (Date.now() - lastWrite > KEEPALIVE_MS) {
      out.write(': keep-alive\n\n');
      lastWrite = Date.now();
    }
    if (page.events.length < 500) await nextEvents(ctx.deps, POLL_MS);
  }
  if (isOpen()) out.end();
}
