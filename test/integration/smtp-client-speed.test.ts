/**
 * How fast Herald's SMTP client gets 2,000 messages onto the wire, printed (never asserted) beside
 * a nodemailer pool sending the same messages. The servers run on their own thread: in the test's
 * thread they would share one core with the client and the figures would measure the server.
 *
 * Two servers: smtp-server, which is what a real receiving MTA in Node looks like and checks
 * every byte; and a minimal sink that only counts, to show the client's own ceiling, since
 * smtp-server tops out well below it.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { SmtpPool, type SmtpEnvelopeMessage, type SmtpResult } from '../../src/transports/smtp/smtp-pool.js';

/** Same shapes as smtp-client.test.ts: dot-stuffing, no final CRLF, 8-bit, a leading dot. */
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

function expectedBytes(raw: string | Buffer): Buffer {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  return bytes.subarray(-2).toString() === '\r\n' ? bytes : Buffer.concat([bytes, Buffer.from('\r\n')]);
}

const SMTP_SERVER_SINK = `
const { parentPort, workerData } = require('node:worker_threads');
const { SMTPServer } = require(workerData.smtpServer);
let received = [];
const server = new SMTPServer({
  authOptional: true, disabledCommands: ['STARTTLS'], logger: false, hidePIPELINING: !workerData.pipelining,
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

/** Answers as fast as Node can: one reply write per chunk read, data only scanned for its end. */
const COUNTING_SINK = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
let received = [];
const extensions = workerData.pipelining ? '250-PIPELINING\\r\\n250 8BITMIME\\r\\n' : '250 8BITMIME\\r\\n';
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let pending = '';
  let inData = false;
  socket.write('220 sink ESMTP\\r\\n');
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    let out = '';
    for (;;) {
      if (inData) {
        const end = pending.indexOf('\\r\\n.\\r\\n');
        if (end === -1) break;
        pending = pending.slice(end + 5);
        inData = false;
        received.push(['', new Uint8Array(0)]);
        out += '250 2.0.0 queued\\r\\n';
        continue;
      }
      const newline = pending.indexOf('\\r\\n');
      if (newline === -1) break;
      const verb = pending.slice(0, 4).toUpperCase();
      pending = pending.slice(newline + 2);
      if (verb === 'EHLO') out += '250-sink\\r\\n' + extensions;
      else if (verb === 'DATA') { out += '354 go ahead\\r\\n'; inData = true; }
      else if (verb === 'QUIT') { socket.end(out + '221 bye\\r\\n'); return; }
      else out += '250 ok\\r\\n';
    }
    if (out) socket.write(out);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', (command) => {
  if (command === 'take') { parentPort.postMessage(received); received = []; }
  else server.close(() => parentPort.close());
});`;

interface ThreadSink {
  port: number;
  /** Messages received since the last call: recipient and bytes (empty from the counting sink). */
  take: () => Promise<Map<string, Buffer>>;
  close: () => Promise<void>;
}

async function startThreadSink(code: string, pipelining: boolean): Promise<ThreadSink> {
  const smtpServer = createRequire(import.meta.url).resolve('smtp-server');
  const worker = new Worker(code, { eval: true, workerData: { smtpServer, pipelining } });
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
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
      for (const [index, entry] of (entries as unknown[]).entries()) {
        if (Array.isArray(entry) && typeof entry[0] === 'string' && entry[1] instanceof Uint8Array) {
          received.set(entry[0] || String(index), Buffer.from(entry[1].buffer, entry[1].byteOffset, entry[1].byteLength));
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

async function timed(run: () => Promise<unknown[]>): Promise<number> {
  const start = performance.now();
  const done = await run();
  return Math.round(done.length / ((performance.now() - start) / 1000));
}

const messages = Array.from({ length: 2000 }, (_, index) => message(index));

/**
 * Our msgs/s for the 2,000 messages, after 4,000 others: the engine runs for hours, and how fast
 * the JIT warms up is not its speed (cold, the first 2,000 go at about a quarter of the rate).
 */
async function ours(code: string, pipelining: boolean, checkBytes: boolean): Promise<number> {
  const sink = await startThreadSink(code, pipelining);
  const pool = new SmtpPool({
    target: { host: '127.0.0.1', port: sink.port, secure: false, clientName: 'client.herald.test' },
    maxConnections: 4,
    maxMessagesPerConnection: 1000,
  });
  try {
    for (const round of [1, 2]) {
      await Promise.all(messages.map((sent) => pool.send({ ...sent, recipient: `warm${round}.${sent.recipient}` })));
      await sink.take();
    }
    let results: SmtpResult[] = [];
    const perSecond = await timed(async () => (results = await Promise.all(messages.map((sent) => pool.send(sent)))));
    expect(results.filter((result) => result.code !== 250)).toEqual([]);
    const received = await sink.take();
    expect(received.size).toBe(messages.length);
    if (checkBytes) {
      for (const sent of messages) expect(received.get(sent.recipient)?.equals(expectedBytes(sent.raw)), sent.recipient).toBe(true);
    }
    return perSecond;
  } finally {
    await pool.close();
    await sink.close();
  }
}

describe('SMTP client speed', () => {
  it('pipelines 2,000 messages intact and prints msgs/s beside a nodemailer pool on the same server', async () => {
    const pipelined = await ours(SMTP_SERVER_SINK, true, true);
    const sink = await startThreadSink(SMTP_SERVER_SINK, true);
    try {
      const transport = nodemailer.createTransport({ pool: true, host: '127.0.0.1', port: sink.port, maxConnections: 4, ignoreTLS: true });
      const theirs = await timed(() =>
        Promise.all(messages.map((sent) => transport.sendMail({ envelope: { from: sent.sender, to: [sent.recipient] }, raw: sent.raw }))),
      );
      transport.close();
      expect((await sink.take()).size).toBe(messages.length);
      console.log(
        `smtp-server, 2,000 messages, 4 connections: Herald pipelined ${pipelined} msgs/s, nodemailer pool ${theirs} msgs/s (${(pipelined / theirs).toFixed(1)}x)`,
      );
    } finally {
      await sink.close();
    }
  }, 120_000);

  it('prints msgs/s for the same messages without PIPELINING', async () => {
    const lockStep = await ours(SMTP_SERVER_SINK, false, true);
    console.log(`smtp-server, 2,000 messages, 4 connections: Herald without PIPELINING ${lockStep} msgs/s`);
  });

  it('prints the client ceiling against a sink that only counts, pipelined and not', async () => {
    const pipelined = await ours(COUNTING_SINK, true, false);
    const lockStep = await ours(COUNTING_SINK, false, false);
    console.log(`counting sink, 2,000 messages, 4 connections: Herald pipelined ${pipelined} msgs/s, without PIPELINING ${lockStep} msgs/s`);
  });
});
