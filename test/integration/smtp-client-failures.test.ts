/**
 * How Herald's SMTP client fails: refusals per recipient and per sender, local refusals (SIZE,
 * SMTPUTF8, unsafe addresses), timeouts, drops before and after the data, a 421, broken greetings
 * and malformed replies. smtp-server stands in for well-behaved servers; a scripted `net` server
 * plays the ones that misbehave. The rule under test throughout: a message gets a 2xx only when
 * the server said so, and every other outcome is a result, never a throw or a hang.
 */
import net from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpPool, type SmtpEnvelopeMessage, type SmtpPoolOptions } from '../../src/transports/smtp/smtp-pool.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** smtp-server replies with an error's `responseCode`; a class keeps the code a real field. */
class Refusal extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function startServer(options: SMTPServerOptions): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.on('data', () => {});
      stream.on('end', () => {
        received.push(session.envelope.rcptTo.map((recipient) => recipient.address).join(','));
        callback();
      });
    },
    ...options,
  });
  server.on('error', () => {});
  const port = await listen(server.server);
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, received };
}

interface Session {
  /** 1 for the first connection the server accepted, 2 for the next… */
  readonly index: number;
  readonly commands: string[];
  reply(text: string): void;
  destroy(): void;
}
type Input = { kind: 'command'; line: string } | { kind: 'data-chunk' } | { kind: 'data'; raw: string };
type Handler = (session: Session, input: Input) => void;

/** A server that follows a script: the test decides every reply, and when to misbehave. */
async function startScripted(handler: Handler, greet: (session: Session) => void = (session) => session.reply('220 scripted ESMTP')) {
  const sessions: Session[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    let inData = false;
    const session: Session = {
      index: sessions.length + 1,
      commands: [],
      reply(text) {
        if (text.startsWith('354')) inData = true;
        if (!socket.destroyed) socket.write(`${text}\r\n`);
      },
      destroy: () => socket.destroy(),
    };
    sessions.push(session);
    greet(session);
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      for (;;) {
        if (socket.destroyed) return;
        if (inData) {
          handler(session, { kind: 'data-chunk' });
          const end = pending.indexOf('\r\n.\r\n');
          if (socket.destroyed || end === -1) return;
          const raw = pending.slice(0, end + 2);
          pending = pending.slice(end + 5);
          inData = false;
          handler(session, { kind: 'data', raw });
          continue;
        }
        const newline = pending.indexOf('\r\n');
        if (newline === -1) return;
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 2);
        session.commands.push(line);
        handler(session, { kind: 'command', line });
      }
    });
  });
  const port = await listen(server);
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port, sessions };
}

/** What a plain server says; scripts fall back to it for everything they do not override. */
function standard(session: Session, input: Input, extensions = ['PIPELINING', '8BITMIME']): void {
  if (input.kind === 'data-chunk') return;
  if (input.kind === 'data') return session.reply('250 2.0.0 queued');
  const verb = input.line.slice(0, 4).toUpperCase();
  if (verb === 'EHLO') return session.reply(['250-scripted.test', ...extensions.map((extension) => `250-${extension}`), '250 HELP'].join('\r\n'));
  if (verb === 'DATA') return session.reply('354 go ahead');
  if (verb === 'QUIT') {
    session.reply('221 bye');
    return session.destroy();
  }
  session.reply('250 2.1.0 ok');
}

function pool(port: number, options: Partial<SmtpPoolOptions> = {}): SmtpPool {
  const created = new SmtpPool({
    target: { host: '127.0.0.1', port, secure: false, clientName: 'client.herald.test' },
    maxConnections: 1,
    maxMessagesPerConnection: 1000,
    timeouts: { command: 2_000, data: 2_000 },
    ...options,
  });
  closers.push(() => created.close());
  return created;
}

function message(recipient: string, raw = `Subject: to ${recipient}\r\n\r\nhello\r\n`, sender = 'sender@example.test'): SmtpEnvelopeMessage {
  return { sender, recipient, raw };
}

describe.each([
  { mode: 'pipelined', hidePIPELINING: false },
  { mode: 'lock-step', hidePIPELINING: true },
])('SMTP client refusals ($mode)', ({ hidePIPELINING }) => {
  it('gives 4xx and 5xx RCPT refusals to their own messages while the others on the same connection go through', async () => {
    let connections = 0;
    const server = await startServer({
      hidePIPELINING,
      onConnect(_session, callback) {
        connections += 1;
        callback();
      },
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('full')) callback(new Refusal(452, '4.2.2 mailbox full, try later'));
        else if (address.address.startsWith('gone')) callback(new Refusal(550, '5.1.1 no such user'));
        else callback();
      },
    });
    const recipients = Array.from({ length: 30 }, (_, index) => `${['ok', 'full', 'ok', 'gone'][index % 4]}${index}@example.test`);
    const client = pool(server.port);
    const results = await Promise.all(recipients.map((recipient) => client.send(message(recipient))));
    results.forEach((result, index) => {
      const recipient = recipients[index] ?? '';
      if (recipient.startsWith('full')) expect(result).toEqual({ code: 452, reply: '452 4.2.2 mailbox full, try later' });
      else if (recipient.startsWith('gone')) expect(result).toEqual({ code: 550, reply: '550 5.1.1 no such user' });
      else expect(result.code).toBe(250);
    });
    expect(server.received.sort()).toEqual(recipients.filter((recipient) => recipient.startsWith('ok')).sort());
    expect(connections).toBe(1);
  });

  it('gives a 5xx MAIL FROM refusal to its message and carries on with the next one', async () => {
    const server = await startServer({
      hidePIPELINING,
      onMailFrom(address, _session, callback) {
        callback(address.address === 'blocked@example.test' ? new Refusal(550, '5.7.1 sender blocked') : undefined);
      },
    });
    const client = pool(server.port);
    const results = await Promise.all([
      client.send(message('a@example.test')),
      client.send(message('b@example.test', undefined, 'blocked@example.test')),
      client.send(message('c@example.test')),
    ]);
    expect(results.map((result) => result.code)).toEqual([250, 550, 250]);
    expect(results[1]?.reply).toBe('550 5.7.1 sender blocked');
    expect(server.received.sort()).toEqual(['a@example.test', 'c@example.test']);
  });
});

describe('SMTP client local refusals', () => {
  it('does not send a message bigger than the advertised SIZE and answers 552', async () => {
    let mailCommands = 0;
    const server = await startServer({
      size: 1000,
      onMailFrom(_address, _session, callback) {
        mailCommands += 1;
        callback();
      },
    });
    const client = pool(server.port);
    const big = await client.send(message('big@example.test', `Subject: big\r\n\r\n${'x'.repeat(4982)}\r\n`));
    expect(big).toEqual({ code: 552, reply: '5.3.4 message size 5000 exceeds the server limit 1000' });
    expect(mailCommands).toBe(0);
    expect((await client.send(message('small@example.test'))).code).toBe(250);
  });

  it('does not send to a non-ASCII address when the server lacks SMTPUTF8', async () => {
    const server = await startServer({ hideSMTPUTF8: true });
    const result = await pool(server.port).send(message('jürgen@example.test'));
    expect(result.code).toBe(553);
    expect(result.reply).toMatch(/^5\.6\.7 .*SMTPUTF8/);
    expect(server.received).toEqual([]);
  });

  it('refuses an address that would inject a command, without sending', async () => {
    const scripted = await startScripted(standard);
    const result = await pool(scripted.port).send(message('x@example.test>\r\nRCPT TO:<victim@example.test'));
    expect(result.code).toBe(501);
    expect(scripted.sessions.flatMap((session) => session.commands).some((line) => line.includes('victim'))).toBe(false);
  });
});

describe('SMTP client broken connections', () => {
  it('times out waiting for the final reply with code 0', async () => {
    const server = await startServer({
      onData(stream, _session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => setTimeout(() => callback(), 1500));
      },
    });
    const started = Date.now();
    const result = await pool(server.port, { timeouts: { data: 200 } }).send(message('slow@example.test'));
    expect(result.code).toBe(0);
    expect(result.reply).toMatch(/timed out after 200 ms waiting for the reply to the message data/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('gives code 0 to a message whose connection drops mid-DATA, and the next send uses a new connection', async () => {
    const scripted = await startScripted((session, input) => {
      if (session.index === 1 && input.kind === 'data-chunk') session.destroy();
      else standard(session, input);
    });
    const client = pool(scripted.port);
    const dropped = await client.send(message('first@example.test', `Subject: big\r\n\r\n${'y'.repeat(200_000)}\r\n`));
    expect(dropped.code).toBe(0);
    expect(dropped.reply).toMatch(/closed the connection|ECONNRESET|EPIPE/);
    expect((await client.send(message('second@example.test'))).code).toBe(250);
    expect(scripted.sessions).toHaveLength(2);
  });

  it('never reports 250 for data the server took but did not answer, even with transactions pipelined behind it', async () => {
    let messages = 0;
    const scripted = await startScripted((session, input) => {
      if (input.kind === 'data' && ++messages === 3) session.destroy();
      else standard(session, input);
    });
    const client = pool(scripted.port);
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => client.send(message(`${name}@example.test`))));
    expect(results.slice(0, 3).map((result) => result.code)).toEqual([250, 250, 0]);
    // d and e were either in flight on the dead connection (0) or went out on a new one (250).
    for (const result of results.slice(3)) expect([0, 250]).toContain(result.code);
  });

  it('gives every waiting send the 554 of a refusing greeting, without reconnecting in a loop', async () => {
    const scripted = await startScripted(standard, (session) => session.reply('554 go away'));
    const client = pool(scripted.port, { maxConnections: 4 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((index) => client.send(message(`r${index}@example.test`))));
    expect(results).toEqual(Array.from({ length: 6 }, () => ({ code: 554, reply: '554 go away' })));
    const attempts = scripted.sessions.length;
    expect(attempts).toBeLessThanOrEqual(4);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(scripted.sessions).toHaveLength(attempts);
    expect(await client.send(message('later@example.test'))).toEqual({ code: 554, reply: '554 go away' });
    expect(scripted.sessions).toHaveLength(attempts + 1);
  });

  it('treats a malformed reply as a failure with code 0, then recovers on a new connection', async () => {
    const scripted = await startScripted((session, input) => {
      if (session.index === 1 && input.kind === 'command' && input.line.startsWith('RCPT')) session.reply('hello, I am not SMTP');
      else standard(session, input);
    });
    const client = pool(scripted.port);
    const broken = await client.send(message('a@example.test'));
    expect(broken.code).toBe(0);
    expect(broken.reply).toMatch(/malformed reply line from server: "hello, I am not SMTP"/);
    expect((await client.send(message('b@example.test'))).code).toBe(250);
  });

  it('treats a malformed EHLO reply as a failure with code 0', async () => {
    const scripted = await startScripted((session, input) => {
      if (input.kind === 'command' && input.line.startsWith('EHLO')) session.reply('250-scripted\r\n220 mixed codes');
      else standard(session, input);
    });
    const result = await pool(scripted.port).send(message('a@example.test'));
    expect(result.code).toBe(0);
    expect(result.reply).toMatch(/does not continue the 250 reply/);
  });

  it('gives a 421 to the message it answered, closes, and sends the next one on a new connection', async () => {
    const scripted = await startScripted((session, input) => {
      if (session.index === 1 && input.kind === 'command' && input.line.startsWith('RCPT')) session.reply('421 4.7.0 too busy, closing');
      else standard(session, input);
    });
    const client = pool(scripted.port);
    expect(await client.send(message('a@example.test'))).toEqual({ code: 421, reply: '421 4.7.0 too busy, closing' });
    expect((await client.send(message('b@example.test'))).code).toBe(250);
    expect(scripted.sessions).toHaveLength(2);
  });

  it('times out a server that never greets with code 0', async () => {
    const scripted = await startScripted(standard, () => {});
    const result = await pool(scripted.port, { timeouts: { greeting: 150 } }).send(message('a@example.test'));
    expect(result).toMatchObject({ code: 0, reply: expect.stringMatching(/timed out after 150 ms waiting for the greeting/) });
  });

  it('reports a refused connection with code 0', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await pool(port).send(message('a@example.test'));
    expect(result).toMatchObject({ code: 0, reply: expect.stringMatching(/connecting to 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/) });
  });

  it('refuses to continue when a server sends more after its 220 to STARTTLS', async () => {
    const scripted = await startScripted((session, input) => {
      if (input.kind === 'command' && input.line === 'STARTTLS') session.reply('220 go ahead\r\n250 injected');
      else standard(session, input, ['PIPELINING', 'STARTTLS']);
    });
    const result = await pool(scripted.port).send(message('a@example.test'));
    expect(result.code).toBe(0);
    expect(scripted.sessions[0]?.commands.some((line) => line.startsWith('MAIL'))).toBe(false);
  });
});

describe('SMTP client conversation details', () => {
  it('reads multi-line greetings and EHLO replies, and sends MAIL, RCPT and DATA as one group', async () => {
    const scripted = await startScripted(
      (session, input) => {
        // Replies to MAIL and RCPT are held back until DATA arrives: a client that waited for
        // them before sending DATA would time out here.
        if (input.kind === 'command' && /^(MAIL|RCPT)/.test(input.line)) return;
        if (input.kind === 'command' && input.line === 'DATA') session.reply('250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n354 go ahead');
        else standard(session, input, ['SIZE 300', 'PIPELINING', '8BITMIME', 'AUTH=PLAIN LOGIN']);
      },
      (session) => session.reply('220-scripted.test ESMTP\r\n220-second greeting line\r\n220 ready'),
    );
    const client = pool(scripted.port, { timeouts: { command: 500 } });
    const eightBit = await client.send(message('a@example.test', 'Subject: é\r\n\r\nnaïve\r\n'));
    expect(eightBit.code).toBe(250);
    expect(await client.send(message('b@example.test', `Subject: big\r\n\r\n${'z'.repeat(400)}\r\n`))).toMatchObject({ code: 552 });
    const mail = scripted.sessions[0]?.commands.find((line) => line.startsWith('MAIL'));
    expect(mail).toBe('MAIL FROM:<sender@example.test> SIZE=23 BODY=8BITMIME');
  });

  it('QUITs an idle connection after the idle timeout and a full one after maxMessagesPerConnection', async () => {
    const scripted = await startScripted(standard);
    const client = pool(scripted.port, { maxMessagesPerConnection: 2, timeouts: { idle: 100 } });
    const results = await Promise.all(['a', 'b', 'c'].map((name) => client.send(message(`${name}@example.test`))));
    expect(results.map((result) => result.code)).toEqual([250, 250, 250]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(scripted.sessions.map((session) => session.commands.at(-1))).toEqual(['QUIT', 'QUIT']);
    expect(client.stats().connections).toBe(0);
  });

  it('falls back to HELO when EHLO is refused with 5xx, and then speaks plain SMTP', async () => {
    const scripted = await startScripted((session, input) => {
      if (input.kind === 'command' && input.line.startsWith('EHLO')) session.reply('502 5.5.1 EHLO not implemented');
      else standard(session, input);
    });
    const result = await pool(scripted.port).send(message('a@example.test', 'Subject: é\r\n\r\nnaïve\r\n'));
    expect(result.code).toBe(250);
    const commands = scripted.sessions[0]?.commands ?? [];
    expect(commands.slice(0, 5)).toEqual([
      'EHLO client.herald.test',
      'HELO client.herald.test',
      'MAIL FROM:<sender@example.test>',
      'RCPT TO:<a@example.test>',
      'DATA',
    ]);
  });
});
