/**
 * The webhook sender against real loopback servers: every receiver misbehaviour the sender must
 * survive, and proof that it connects only where the guard allowed and leaves no socket open.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import selfsigned from 'selfsigned';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAllowed, type AddressLookup } from '../../src/events/webhooks/endpoint-guard.js';
import { SNIPPET_BYTES, deliverWebhook, type WebhookRequest, type WebhookResponse } from '../../src/events/webhooks/http-sender.js';
import { generateSecret, sign } from '../../src/events/webhooks/signature.js';
import { waitFor } from '../helpers/wait.js';

const ALLOWLIST = ['127.0.0.0/8'];
const secret = generateSecret(randomBytes);

/** `hooks.test` (a reserved TLD nothing resolves) points at loopback; `internal.test` at 10.0.0.1. */
const lookup: AddressLookup = async (host) => {
  if (host === 'hooks.test') return [{ address: '127.0.0.1', family: 4 }];
  if (host === 'internal.test') return [{ address: '10.0.0.1', family: 4 }];
  throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

interface Receiver {
  server: Server;
  port: number;
  hits: IncomingMessage[];
}

const servers: Server[] = [];

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function receiver(handler: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<Receiver> {
  const hits: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    hits.push(req);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  return { server, port: await listen(server), hits };
}

async function openConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

afterEach(async () => {
  // The sender must have closed its side; give the server a moment to see the FIN or RST.
  for (const server of servers) {
    await waitFor('the sender to close its connections', async () => ((await openConnections(server)) === 0 ? true : undefined), 2000);
  }
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const payload = { type: 'message.delivered', created_at: '2025-01-01T00:00:00Z', data: { message_id: 'msg_1', to: ['ann@example.org'] } };
const body = Buffer.from(JSON.stringify(payload));

/** What the dispatcher will do: guard the URL's host, sign, then deliver to the checked addresses. */
async function send(url: string, overrides: Partial<WebhookRequest> = {}, allowlist = ALLOWLIST): Promise<WebhookResponse> {
  const target = await resolveAllowed(new URL(url).hostname, { allowlist, lookup });
  if (!target.ok) throw new Error(`guard refused ${url}: ${target.reason}`);
  const headers = sign({ id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body, secrets: [secret] });
  return deliverWebhook({ url, addresses: target.addresses, headers: { ...headers }, body, ...overrides });
}

function stringHeaders(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

describe('deliverWebhook', () => {
  it('POSTs the signed body, which the receiver verifies with standardwebhooks', async () => {
    let verified: unknown;
    const rx = await receiver((req, res, raw) => {
      verified = new Webhook(secret).verify(raw, stringHeaders(req));
      res.end('thanks');
    });
    const signed = sign({ id: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body, secrets: [secret] });
    // A caller's Content-Type must not win over ours.
    const result = await send(`http://hooks.test:${rx.port}/in?x=1`, { headers: { ...signed, 'Content-Type': 'text/plain' } });
    expect(result).toMatchObject({ ok: true, status: 200, error: null, gone: false, responseSnippet: 'thanks' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(verified).toEqual(payload);
    const [hit] = rx.hits;
    expect(hit?.method).toBe('POST');
    expect(hit?.url).toBe('/in?x=1');
    expect(hit?.headers).toMatchObject({
      host: `hooks.test:${rx.port}`,
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
      'content-length': String(body.length),
      connection: 'close',
    });
  });

  it('reports 410 Gone so the endpoint can be disabled', async () => {
    const rx = await receiver((_req, res) => res.writeHead(410).end('endpoint removed'));
    await expect(send(`http://hooks.test:${rx.port}/`)).resolves.toMatchObject({ ok: false, status: 410, gone: true, error: null, responseSnippet: 'endpoint removed' });
  });

  it('records the status and a snippet of a 500 response', async () => {
    const rx = await receiver((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down'));
    await expect(send(`http://hooks.test:${rx.port}/`)).resolves.toMatchObject({ ok: false, status: 500, gone: false, error: null, responseSnippet: 'database is down' });
  });

  it('keeps the first KiB of the response, cut on a character boundary', async () => {
    const rx = await receiver((_req, res) => res.writeHead(500).end('€'.repeat(500)));
    const result = await send(`http://hooks.test:${rx.port}/`);
    expect(result.responseSnippet).toBe('€'.repeat(Math.floor(SNIPPET_BYTES / 3)));
  });

  it('refuses a redirect and never follows it', async () => {
    const elsewhere = await receiver((_req, res) => res.end('should not be reached'));
    const rx = await receiver((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/` }).end());
    const result = await send(`http://hooks.test:${rx.port}/`);
    expect(result).toMatchObject({ ok: false, status: 302, gone: false });
    expect(result.error).toMatch(/^redirect refused/);
    expect(rx.hits).toHaveLength(1);
    expect(elsewhere.hits).toHaveLength(0);
  });

  it('times out on a receiver that never answers', async () => {
    const rx = await receiver(() => undefined);
    const result = await send(`http://hooks.test:${rx.port}/`, { timeoutMs: 300 });
    expect(result).toMatchObject({ ok: false, status: null, error: 'timeout after 300 ms' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(290);
    expect(result.latencyMs).toBeLessThan(2000);
  });

  it('times out on a response that drips in slower than the total budget', async () => {
    const drips: NodeJS.Timeout[] = [];
    const rx = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      drips.push(setInterval(() => res.write('.'), 50));
      res.on('close', () => drips.forEach(clearInterval));
    });
    const result = await send(`http://hooks.test:${rx.port}/`, { timeoutMs: 500 });
    expect(result).toMatchObject({ ok: false, status: 200, error: 'timeout after 500 ms' });
    expect(result.responseSnippet).toMatch(/^\.+$/);
    expect(result.latencyMs).toBeLessThan(2000);
  });

  it('stops reading a 10 MB chunked response at the cap and destroys the connection', async () => {
    let written = 0;
    let finished = false;
    let closed = false;
    const rx = await receiver((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      res.on('close', () => (closed = true));
      res.on('finish', () => (finished = true));
      const pump = (): void => {
        while (written < 10 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      res.writeHead(200);
      pump();
    });
    const result = await send(`http://hooks.test:${rx.port}/`, { maxResponseBytes: 64 * 1024 });
    expect(result).toMatchObject({ ok: false, status: 200, error: 'response body too large (over 65536 bytes)' });
    expect(result.responseSnippet).toBe('x'.repeat(SNIPPET_BYTES));
    await waitFor('the receiver to see the connection close', () => (closed ? true : undefined), 5000);
    expect(finished).toBe(false);
    expect(written).toBeLessThan(10 * 1024 * 1024);
  });

  it('refuses a declared Content-Length over the cap without reading the body', async () => {
    const rx = await receiver((_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write('x'.repeat(100));
    });
    await expect(send(`http://hooks.test:${rx.port}/`)).resolves.toMatchObject({ ok: false, status: 200, error: 'response body too large (over 65536 bytes)' });
  });

  it('reports a connection cut before the response is complete', async () => {
    const rx = await receiver((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial', () => res.destroy());
    });
    const result = await send(`http://hooks.test:${rx.port}/`);
    expect(result).toMatchObject({ ok: false, status: 200 });
    expect(result.error).not.toBeNull();
  });

  it('reports connection refused, and tries every pinned address first', async () => {
    const rx = await receiver((_req, res) => res.end('ok'));
    const closedPort = await listen(createServer());
    await new Promise((resolve) => servers.pop()?.close(resolve));
    await expect(send(`http://hooks.test:${closedPort}/`)).resolves.toMatchObject({ ok: false, status: null, error: 'connection refused' });
    const twoAddresses = [
      { address: '127.0.0.2', family: 4 as const },
      { address: '127.0.0.1', family: 4 as const },
    ];
    await expect(send(`http://hooks.test:${rx.port}/`, { addresses: twoAddresses })).resolves.toMatchObject({ ok: true, status: 200 });
  });

  it('reports an untrusted certificate as a TLS failure, having sent the hostname as SNI', async () => {
    const pem = selfsigned.generate([{ name: 'commonName', value: 'hooks.test' }], { days: 1, keySize: 2048, algorithm: 'sha256' });
    const context = createSecureContext({ key: pem.private, cert: pem.cert });
    const sni: string[] = [];
    let requests = 0;
    const server = createHttpsServer({
      key: pem.private,
      cert: pem.cert,
      SNICallback: (name, done) => {
        sni.push(name);
        done(null, context);
      },
    }, (_req, res) => {
      requests += 1;
      res.end('ok');
    });
    const port = await listen(server);
    const result = await send(`https://hooks.test:${port}/`);
    expect(result).toMatchObject({ ok: false, status: null, gone: false });
    expect(result.error).toMatch(/^TLS error: .*self.signed/i);
    expect(sni).toEqual(['hooks.test']);
    expect(requests).toBe(0);
  });

  it('never connects to a host that resolves to a private address without an allowlist entry', async () => {
    const target = await resolveAllowed('internal.test', { allowlist: [], lookup });
    expect(target).toEqual({ ok: false, reason: 'internal.test resolves to 10.0.0.1 (private)', address: '10.0.0.1' });
    // Even loopback is refused once the allowlist is empty.
    await expect(resolveAllowed('hooks.test', { allowlist: [], lookup })).resolves.toMatchObject({ ok: false });
  });

  it('refuses to send without checked addresses, or with bad limits, without throwing', async () => {
    await expect(deliverWebhook({ url: 'http://hooks.test/', addresses: [], headers: {}, body })).resolves.toMatchObject({ ok: false, error: 'no checked address to connect to' });
    await expect(deliverWebhook({ url: 'ftp://hooks.test/', addresses: [{ address: '127.0.0.1', family: 4 }], headers: {}, body })).resolves.toMatchObject({ ok: false });
    await expect(deliverWebhook({ url: 'http://hooks.test/', addresses: [{ address: '127.0.0.1', family: 4 }], headers: {}, body, timeoutMs: 0 })).resolves.toMatchObject({ ok: false });
    await expect(deliverWebhook({ url: 'http://hooks.test:1/', addresses: [{ address: '127.0.0.1', family: 4 }], headers: { 'x-bad': 'a\r\nb' }, body })).resolves.toMatchObject({ ok: false, status: null });
  });
});
