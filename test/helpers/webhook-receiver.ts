/**
 * Webhook test kit: a real `node:http` receiver on 127.0.0.1 that keeps every request and answers
 * as the test scripts it (status by request number, or hang), and a dispatcher over a test store
 * with a short retry schedule and poll interval so retries happen in milliseconds.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { WebhookDispatcher, type DispatcherOptions } from '../../src/events/webhooks/dispatcher.js';
import { createLogger } from '../../src/lib/logger.js';
import type { Store } from '../../src/store/store.js';
import type { TestContext } from './harness.js';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver answers to its n-th request (1-based): a status, or never ('hang'). */
export type Responder = (n: number) => number | 'hang';

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Changes how later requests are answered. */
  respond: (responder: Responder) => void;
  close: () => Promise<void>;
}

export async function startReceiver(responder: Responder = () => 200, path = '/hooks'): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let answer = responder;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const status = answer(requests.length);
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `no (${status})`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    respond: (next) => {
      answer = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The three Standard Webhooks headers of a request, as the library wants them. */
export function signatureHeaders(request: ReceivedRequest): Record<string, string> {
  const header = (name: string) => String(request.headers[name] ?? '');
  return { 'webhook-id': header('webhook-id'), 'webhook-timestamp': header('webhook-timestamp'), 'webhook-signature': header('webhook-signature') };
}

/** Verifies a request with the `standardwebhooks` library (throws when it does not verify) and returns its parsed body. */
export function verified(request: ReceivedRequest, secret: string): unknown {
  return new Webhook(secret).verify(request.body, signatureHeaders(request));
}

/** The events a request carried (one object, or an array when batched). */
export function eventsOf(request: ReceivedRequest, secret: string): { id: string; type: string; data: Record<string, unknown> }[] {
  const body = verified(request, secret);
  return (Array.isArray(body) ? body : [body]) as { id: string; type: string; data: Record<string, unknown> }[];
}

/** Short schedule for tests: the first attempt at once, then retries 50 ms apart. */
export const TEST_RETRY_DELAYS = [0, 0.05, 0.05, 0.05, 0.05, 0.05];

export function startDispatcher(
  ctx: TestContext,
  options: Partial<DispatcherOptions> & { store?: Store } = {},
): WebhookDispatcher {
  const dispatcher = new WebhookDispatcher({
    store: ctx.store,
    ids: ctx.deps.ids,
    clock: ctx.deps.clock,
    logger: createLogger('silent'),
    owner: `test-webhooks-${Math.random().toString(36).slice(2)}`,
    allowlist: ['127.0.0.0/8'],
    disableAfterSeconds: 3600,
    retryDelaysSeconds: TEST_RETRY_DELAYS,
    pollIntervalMs: 25,
    timeoutMs: 2000,
    ...options,
  });
  dispatcher.start();
  return dispatcher;
}
