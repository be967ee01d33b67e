/**
 * Starts a Server-Sent Events response: hijacks the reply, writes the headers, and tracks the
 * stream in the app's set so a shutdown ends it (app.close() does not end hijacked responses).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { ApiContext } from './context.js';

export interface EventStream {
  out: ServerResponse;
  /** False once the client has gone (or the server ended the stream). */
  isOpen: () => boolean;
}

export function openEventStream(ctx: ApiContext, reply: FastifyReply): EventStream {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let open = true;
  ctx.streams.add(out);
  out.on('close', () => {
    open = false;
    ctx.streams.delete(out);
  });
  return { out, isOpen: () => open };
}
