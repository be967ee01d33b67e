/**
 * Herald's SMTP client against real smtp-server instances on loopback: pipelined and lock-step
 * delivery with every byte checked, STARTTLS and implicit TLS, AUTH PLAIN and LOGIN, the ESMTP
 * parameters, connection reuse, quotas, idle close and draining. Failure paths (refusals,
 * timeouts, drops, broken servers) are in smtp-client-failures.test.ts, throughput in
 * smtp-client-speed.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { dotStuff } from '../../src/transports/smtp/dot-stuff.js';
import { ReplyParser } from '../../src/transports/smtp/reply-parser.js';
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

  for (const { mode, hidePIPELINING } of [
    { mode: 'pipelined', hidePIPELINING: false },
    { mode: 'in lock-step when the server does not offer PIPELINING', hidePIPELINING: true },
  ]) {
    it(`delivers 2,000 messages over four connections with every byte intact, ${mode}`, async () => {
      const server = await startServer({ hidePIPELINING });
      const client = pool(server.port);
      const results = await Promise.all(messages.map((sent) => client.send(sent)));
      expect(results.filter((result) => result.code !== 250)).toEqual([]);
      expectAllReceivedIntact(server, messages);
      expect(server.connections()).toBeLessThanOrEqual(4);
    });
  }

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

  it('closes idle connections after the idle timeout, and opens a new one for the next send', async () => {
    let closed = 0;
    const server = await startServer({
      onClose() {
        closed += 1;
      },
    });
    const client = pool(server.port, { timeouts: { idle: 100 } });
    expect((await client.send(message(0))).code).toBe(250);
    expect(client.stats().connections).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(client.stats()).toEqual({ connections: 0, queued: 0, inFlight: 0 });
    expect(closed).toBe(1);
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

describe('SMTP client wire format', () => {
  /** What a receiving server does with the data: find the end, drop each line's escape dot. */
  function unstuff(wire: Buffer): Buffer {
    const text = wire.toString('latin1');
    const body = text === '.\r\n' ? '' : text.slice(0, text.length - 3);
    expect(text === '.\r\n' || text.endsWith('\r\n.\r\n')).toBe(true);
    // No early end-of-data, not even one a lenient server would see after a bare LF.
    expect(/(^|\n)\.\r?\n/.test(body.slice(0, -2))).toBe(false);
    return Buffer.from(body.replace(/(^|\n)\./g, '$1'), 'latin1');
  }

  it('dot-stuffs any message so that the server gets back exactly its bytes plus a final CRLF', () => {
    const piece = fc.constantFrom('.', '..', 'a', ' ', '\r\n', '\n', '\r', 'é');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const raw = Buffer.from(pieces.join(''), 'utf8');
        const expected = raw.length === 0 ? raw : expectedBytes(raw);
        expect(unstuff(dotStuff(raw)).equals(expected)).toBe(true);
      }),
    );
  });

  it('parses the same replies however the bytes are split into chunks', () => {
    const wire = Buffer.from('250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\n354 go ahead\r\n550 5.1.1 no such user\r\n');
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 8 }), (cuts) => {
        const parser = new ReplyParser();
        const replies: string[] = [];
        const bounds = [0, ...cuts.sort((a, b) => a - b), wire.length];
        for (let index = 1; index < bounds.length; index++) {
          parser.push(wire.subarray(bounds[index - 1], bounds[index]), {
            reply: (reply) => replies.push(`${reply.code}|${reply.lines.join('|')}`),
            malformed: (description) => replies.push(`malformed ${description}`),
          });
        }
        expect(replies).toEqual(['250|mx.example|PIPELINING|SIZE 1000', '354|go ahead', '550|5.1.1 no such user']);
        expect(parser.buffered).toBe(false);
      }),
    );
  });

  it.each([
    ['a line without a code', 'hello\r\n250 ok\r\n'],
    ['a code of two digits', '25 ok\r\n'],
    ['a continuation with another code', '250-first\r\n550 second\r\n'],
    ['a line that never ends', 'x'.repeat(20_000)],
  ])('reports %s once as malformed and nothing after it', (_name, input) => {
    const events: string[] = [];
    const parser = new ReplyParser();
    const sink = { reply: () => events.push('reply'), malformed: () => events.push('malformed') };
    parser.push(Buffer.from(input), sink);
    parser.push(Buffer.from('250 more\r\n'), sink);
    expect(events).toEqual(['malformed']);
  });
});
