/**
 * Herald's SMTP client against real smtp-server instances on loopback: pipelined and lock-step
 * delivery with every byte checked, STARTTLS and implicit TLS, AUTH PLAIN and LOGIN, the ESMTP
 * parameters, connection reuse, quotas, idle close and draining. Throughput is printed beside a
 * nodemailer pool sending the same messages to the same kind of server, never asserted.
 * Failure paths (refusals, timeouts, drops, broken servers) are in smtp-client-failures.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import nodemailer from 'nodemailer';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpPool, type SmtpEnvelopeMessage, type SmtpPoolOptions, type SmtpTarget } from '../../src/transports/smtp/smtp-pool.js';

interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  secure: boolean;
  user: string | null;
  bodyType: string | undefined;
  smtpUtf8: boolean;
}

interface TestServer {
  port: number;
  received: Received[];
  connections: () => number;
  close: () => Promise<void>;
}

const servers: TestServer[] = [];
const pools: SmtpPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function startServer(options: SMTPServerOptions = {}): Promise<TestServer> {
  const received: Received[] = [];
  let connections = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...options,
    onConnect(_session, callback) {
      connections += 1;
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const envelope = session.envelope;
        received.push({
          from: envelope.mailFrom === false ? '' : envelope.mailFrom.address,
          to: envelope.rcptTo.map((recipient) => recipient.address),
          raw: Buffer.concat(chunks),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : null,
          bodyType: envelope.bodyType,
          smtpUtf8: envelope.smtpUtf8 === true,
        });
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  const testServer: TestServer = {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  servers.push(testServer);
  return testServer;
}

function target(port: number, overrides: Partial<SmtpTarget> = {}): SmtpTarget {
  return { host: '127.0.0.1', port, secure: false, clientName: 'client.herald.test', ...overrides };
}

function pool(port: number, overrides: Partial<SmtpPoolOptions> = {}, targetOverrides: Partial<SmtpTarget> = {}): SmtpPool {
  const created = new SmtpPool({ target: target(port, targetOverrides), maxConnections: 4, maxMessagesPerConnection: 1000, ...overrides });
  pools.push(created);
  return created;
}

/** Messages that exercise dot-stuffing, a missing final CRLF, 8-bit bodies and a leading dot. */
function message(index: number): SmtpEnvelopeMessage {
  const recipient = `rcpt${index}@example.test`;
  const head = `From: sender@example.test\r\nTo: ${recipient}\r\nSubject: message ${index}\r\n`;
  const shapes = [
    `${head}\r\nhello ${index}\r\n.leading dot\r\n..two dots\r\n.\r\n. dot space\r\nend\r\n`,
    `${head}\r\nno line end after this ${index}\r\n.last line starts with a dot`,
    `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, ça va? ${index}\r\n`,
    `.${head}\r\nstarts with a dot ${index}\r\n${'x'.repeat(index % 997)}\r\n`,
  ];
  return { sender: 'sender@example.test', recipient, raw: shapes[index % shapes.length] as string };
}

/** smtp-server hands over the data up to the final CRLF, which a message without one gains. */
function expectedBytes(raw: string | Buffer): Buffer {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  return bytes.subarray(-2).toString() === '\r\n' ? bytes : Buffer.concat([bytes, Buffer.from('\r\n')]);
}

function expectAllReceivedIntact(server: TestServer, messages: SmtpEnvelopeMessage[]): void {
  expect(server.received).toHaveLength(messages.length);
  const byRecipient = new Map(server.received.map((mail) => [mail.to[0], mail]));
  for (const sent of messages) {
    const got = byRecipient.get(sent.recipient);
    expect(got, sent.recipient).toBeDefined();
    expect(got?.from).toBe(sent.sender);
    expect(got?.raw.equals(expectedBytes(sent.raw)), `bytes of ${sent.recipient}`).toBe(true);
  }
}

async function timed<T extends unknown[]>(run: () => Promise<T>): Promise<{ value: T; perSecond: number }> {
  const start = performance.now();
  const value = await run();
  return { value, perSecond: Math.round(value.length / ((performance.now() - start) / 1000)) };
}

/**
 * An smtp-server on its own thread, for the speed runs: in the test's thread it would compete
 * with the client for one core and the figures would measure the server, not the client.
 */
interface ThreadSink {
  port: number;
  /** Messages received since the last call, keyed by recipient. */
  take: () => Promise<Map<string, Buffer>>;
  close: () => Promise<void>;
}

const THREAD_SINK = `
const { parentPort, workerData } = require('node:worker_threads');
const { SMTPServer } = require(workerData.smtpServer);
let received = [];
const server = new SMTPServer({
  authOptional: true, disabledCommands: ['STARTTLS'], logger: false, hidePIPELINING: workerData.hidePipelining,
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => { received.push([session.envelope.rcptTo[0].address, Buffer.concat(chunks)]); callback(); });
  },
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.server.address().port));
parentPort.on('message', (command) => {
  if (command === 'take') { parentPort.postMessage(received); received = []; }
  else server.close(() => parentPort.close());
});`;

async function startThreadSink(hidePipelining: boolean): Promise<ThreadSink> {
  const smtpServer = createRequire(import.meta.url).resolve('smtp-server');
  const worker = new Worker(THREAD_SINK, { eval: true, workerData: { smtpServer, hidePipelining } });
  const next = () => new Promise<unknown>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const port = await next();
  if (typeof port !== 'number') throw new Error(`sink thread sent ${String(port)} instead of its port`);
  return {
    port,
    take: async () => {
      const reply = next();
      worker.postMessage('take');
      const entries = await reply;
      const received = new Map<string, Buffer>();
      if (!Array.isArray(entries)) return received;
      for (const entry of entries as unknown[]) {
        if (Array.isArray(entry) && typeof entry[0] === 'string' && entry[1] instanceof Uint8Array) {
          received.set(entry[0], Buffer.from(entry[1].buffer, entry[1].byteOffset, entry[1].byteLength));
        }
      }
      return received;
    },
    close: async () => {
      worker.postMessage('close');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

function expectAllIntact(received: Map<string, Buffer>, messages: SmtpEnvelopeMessage[]): void {
  expect(received.size).toBe(messages.length);
  for (const sent of messages) {
    expect(received.get(sent.recipient)?.equals(expectedBytes(sent.raw)), `bytes of ${sent.recipient}`).toBe(true);
  }
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-smtp-client-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SMTP client delivery', () => {
  const messages = Array.from({ length: 2000 }, (_, index) => message(index));

  /** Ours gets a short warm-up first: the engine runs for hours, the JIT cost is not its speed. */
  async function runOurs(hidePipelining: boolean): Promise<number> {
    const sink = await startThreadSink(hidePipelining);
    try {
      const client = pool(sink.port);
      await Promise.all(messages.slice(0, 200).map((sent) => client.send({ ...sent, recipient: `warm.${sent.recipient}` })));
      await sink.take();
      const ours = await timed(() => Promise.all(messages.map((sent) => client.send(sent))));
      expect(ours.value.filter((result) => result.code !== 250)).toEqual([]);
      expectAllIntact(await sink.take(), messages);
      expect(client.stats().connections).toBeLessThanOrEqual(4);
      return ours.perSecond;
    } finally {
      await sink.close();
    }
  }

  it('pipelines 2,000 messages over four connections with every byte intact, and shows the speed beside nodemailer', async () => {
    const ours = await runOurs(false);
    const sink = await startThreadSink(false);
    try {
      const transport = nodemailer.createTransport({ pool: true, host: '127.0.0.1', port: sink.port, maxConnections: 4, ignoreTLS: true });
      const theirs = await timed(() =>
        Promise.all(messages.map((sent) => transport.sendMail({ envelope: { from: sent.sender, to: [sent.recipient] }, raw: sent.raw }))),
      );
      transport.close();
      expect((await sink.take()).size).toBe(messages.length);
      console.log(`2,000 messages, 4 connections: Herald pipelined ${ours} msgs/s, nodemailer pool ${theirs.perSecond} msgs/s (${(ours / theirs.perSecond).toFixed(1)}x)`);
    } finally {
      await sink.close();
    }
  }, 120_000);

  it('delivers the same 2,000 messages intact in lock-step when the server does not offer PIPELINING', async () => {
    const ours = await runOurs(true);
    console.log(`2,000 messages, 4 connections: Herald without PIPELINING ${ours} msgs/s`);
  });

  it('delivers intact through an smtp-server in this thread too, pipelined and not', async () => {
    for (const hidePIPELINING of [false, true]) {
      const server = await startServer({ hidePIPELINING });
      const some = messages.slice(0, 400);
      const results = await Promise.all(some.map((sent) => pool(server.port).send(sent)));
      expect(results.filter((result) => result.code !== 250)).toEqual([]);
      expectAllReceivedIntact(server, some);
    }
  });

  it('answers with the server reply text, enhanced status included', async () => {
    const server = await startServer();
    const result = await pool(server.port).send(message(1));
    expect(result.code).toBe(250);
    expect(result.reply).toMatch(/^250 /);
  });

  it('sends BODY=8BITMIME only for 8-bit messages and SMTPUTF8 only for non-ASCII addresses', async () => {
    const server = await startServer();
    const client = pool(server.port, { maxConnections: 1 });
    const ascii = { sender: 's@example.test', recipient: 'plain@example.test', raw: 'Subject: a\r\n\r\nascii\r\n' };
    const eightBit = { sender: 's@example.test', recipient: 'eight@example.test', raw: Buffer.from('Subject: b\r\n\r\nnaïve\r\n', 'utf8') };
    const utf8Address = { sender: 's@example.test', recipient: 'jürgen@exämple.test', raw: 'Subject: c\r\n\r\nhi\r\n' };
    const results = await Promise.all([ascii, eightBit, utf8Address].map((sent) => client.send(sent)));
    expect(results.map((result) => result.code)).toEqual([250, 250, 250]);
    const by = (recipient: string) => server.received.find((mail) => mail.to[0] === recipient);
    expect(by('plain@example.test')).toMatchObject({ bodyType: '7bit', smtpUtf8: false });
    expect(by('eight@example.test')).toMatchObject({ bodyType: '8bitmime', smtpUtf8: false });
    expect(by('jürgen@exämple.test')).toMatchObject({ smtpUtf8: true });
    expect(by('eight@example.test')?.raw.equals(eightBit.raw)).toBe(true);
  });

  it('sends a null sender as MAIL FROM:<>', async () => {
    const server = await startServer();
    const result = await pool(server.port).send({ sender: '', recipient: 'bounce@example.test', raw: 'Subject: dsn\r\n\r\nbounce\r\n' });
    expect(result.code).toBe(250);
    expect(server.received[0]?.from).toBe('');
  });

  it('reuses one connection for sequential sends and reconnects after maxMessagesPerConnection', async () => {
    const server = await startServer();
    const client = pool(server.port, { maxConnections: 1, maxMessagesPerConnection: 3 });
    for (let index = 0; index < 10; index++) expect((await client.send(message(index))).code).toBe(250);
    expect(server.received).toHaveLength(10);
    expect(server.connections()).toBe(4);
  });

  it('closes idle connections with QUIT after the idle timeout, and opens a new one for the next send', async () => {
    let quits = 0;
    const server = await startServer({
      onClose() {
        quits += 1;
      },
    });
    const client = pool(server.port, { timeouts: { idle: 100 } });
    expect((await client.send(message(0))).code).toBe(250);
    expect(client.stats().connections).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(client.stats()).toEqual({ connections: 0, queued: 0, inFlight: 0 });
    expect(quits).toBe(1);
    expect((await client.send(message(1))).code).toBe(250);
    expect(server.connections()).toBe(2);
  });

  it('close() finishes queued and in-flight sends before quitting, and later sends get code 0', async () => {
    const server = await startServer();
    const client = pool(server.port, { maxConnections: 2 });
    const sends = Array.from({ length: 50 }, (_, index) => client.send(message(index)));
    expect(client.stats().queued).toBeGreaterThan(0);
    await client.close();
    expect((await Promise.all(sends)).every((result) => result.code === 250)).toBe(true);
    expect(client.stats()).toEqual({ connections: 0, queued: 0, inFlight: 0 });
    expect(await client.send(message(99))).toMatchObject({ code: 0, reply: expect.stringMatching(/closed/) });
  });
});

describe('SMTP client TLS and AUTH', () => {
  const { key, cert } = selfSignedCertificate();

  it('upgrades with STARTTLS to a self-signed server when verification is off, then sends EHLO again', async () => {
    const server = await startServer({ key, cert, disabledCommands: [] });
    const client = pool(server.port, {}, { tls: { rejectUnauthorized: false } });
    const results = await Promise.all([0, 1, 2].map((index) => client.send(message(index))));
    expect(results.map((result) => result.code)).toEqual([250, 250, 250]);
    expect(server.received.every((mail) => mail.secure)).toBe(true);
  });

  it('fails with code 0 and says why when the certificate does not verify', async () => {
    const server = await startServer({ key, cert, disabledCommands: [] });
    const result = await pool(server.port).send(message(0));
    expect(result.code).toBe(0);
    expect(result.reply).toMatch(/TLS handshake .* failed/);
    expect(server.received).toHaveLength(0);
  });

  it('speaks implicit TLS from the first byte when the target is secure', async () => {
    const server = await startServer({ key, cert, secure: true, disabledCommands: [] });
    const result = await pool(server.port, {}, { secure: true, tls: { rejectUnauthorized: false } }).send(message(0));
    expect(result.code).toBe(250);
    expect(server.received[0]?.secure).toBe(true);
  });

  it('fails a requireTls target with code 0 when STARTTLS is not offered, without sending', async () => {
    const server = await startServer();
    const result = await pool(server.port, {}, { requireTls: true }).send(message(0));
    expect(result).toMatchObject({ code: 0, reply: expect.stringMatching(/STARTTLS/) });
    expect(server.received).toHaveLength(0);
  });

  for (const mechanism of ['PLAIN', 'LOGIN'] as const) {
    it(`authenticates with AUTH ${mechanism} over STARTTLS`, async () => {
      const server = await startServer({
        key,
        cert,
        disabledCommands: [],
        authOptional: false,
        authMethods: [mechanism],
        onAuth(auth, _session, callback) {
          if (auth.method === mechanism && auth.username === 'herald' && auth.password === 's3cret:with spaces') callback(null, { user: 'herald' });
          else callback(new Error('Invalid username or password'));
        },
      });
      const client = pool(server.port, {}, { tls: { rejectUnauthorized: false }, auth: { user: 'herald', pass: 's3cret:with spaces' } });
      const results = await Promise.all([0, 1].map((index) => client.send(message(index))));
      expect(results.map((result) => result.code)).toEqual([250, 250]);
      expect(server.received.map((mail) => mail.user)).toEqual(['herald', 'herald']);
    });
  }

  it('gives every waiting send the 535 when the credentials are refused, and never shows the password', async () => {
    const server = await startServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authOptional: false,
      onAuth(_auth, _session, callback) {
        callback(new Error('Invalid username or password'));
      },
    });
    const client = pool(server.port, {}, { auth: { user: 'herald', pass: 'wrong-password' } });
    const results = await Promise.all([0, 1, 2].map((index) => client.send(message(index))));
    for (const result of results) {
      expect(result.code).toBe(535);
      expect(result.reply).not.toContain('wrong-password');
    }
    expect(server.received).toHaveLength(0);
  });
});
