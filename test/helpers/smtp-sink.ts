/**
 * A real SMTP server on loopback that records what it receives: envelope and raw message. Its
 * replies can be scripted per test (delay, 4xx/5xx per recipient) to stand in for a smart host.
 */
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  messageId: string | null;
}

export interface SinkOptions {
  /** Milliseconds to wait before answering DATA. */
  dataDelayMs?: number;
  /** Reply for a recipient: return an Error with responseCode to refuse it. */
  onRecipient?: (address: string) => Error | null;
}

export interface SmtpSink {
  port: number;
  received: ReceivedMail[];
  connections: () => number;
  /** The most connections open at the same time. */
  maxConcurrent: () => number;
  close: () => Promise<void>;
}

export async function startSmtpSink(options: SinkOptions = {}): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  let connections = 0;
  let open = 0;
  let maxConcurrent = 0;
  const config: SMTPServerOptions = {
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, callback) {
      connections += 1;
      open += 1;
      maxConcurrent = Math.max(maxConcurrent, open);
      callback();
    },
    onClose() {
      open -= 1;
    },
    onRcptTo(address, _session, callback) {
      callback(options.onRecipient?.(address.address) ?? undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const finish = () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw,
            messageId: /^Message-ID:\s*(\S+)/im.exec(raw)?.[1] ?? null,
          });
          callback();
        };
        if (options.dataDelayMs) setTimeout(finish, options.dataDelayMs);
        else finish();
      });
    },
  };
  const server = new SMTPServer(config);
  // A client that dies mid-session (the kill -9 tests) resets its connection: expected, not a failure.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    received,
    connections: () => connections,
    maxConcurrent: () => maxConcurrent,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A scripted refusal; smtp-server sends `responseCode` and the message as the reply. */
export class SinkReply extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
  }
}
