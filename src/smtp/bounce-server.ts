/**
 * The bounce and feedback listener: the SMTP server the MX of the bounce domain and of the
 * return-path host points at. It takes mail for the addresses Herald hands out there and nothing
 * else: VERP return paths (`bounces+<token>@`) and List-Unsubscribe mailto addresses
 * (`unsubscribe+<token>@`), at the bounce domain or at `bounces.<domain>` of a verified sending
 * domain, whose tokens must verify at RCPT, and the feedback-loop addresses (`fbl@`, `abuse@`,
 * `arf@`) of the bounce domain. Every other recipient is refused with 550. There is no AUTH: anyone on the internet may send here, so every
 * report is read as hostile (src/feedback/ bounds what it reads) and the size is capped.
 *
 * `250` is answered once the report is handled (recorded, or ignored with a logged reason);
 * `451` when the store fails, so the sender tries again. A report that is refused (malformed,
 * wrong report-type, no recipient, names a message it may not touch) is still answered `250`:
 * it will never become readable, and a refusal would only make the reporting server bounce the
 * bounce.
 *
 * Must not: crash on any client behaviour, or touch anything but the message a report names.
 */
import { hostname } from 'node:os';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { MAX_REPORT_BYTES } from '../feedback/feedback-limits.js';
import type { Logger } from '../lib/logger.js';
import type { ServiceDeps } from '../services/deps.js';
import { inboundRecipient, recordInboundMail, type FeedbackResult, type FeedbackSettings, type InboundRecipient } from '../services/feedback.js';
import { SmtpReplyError } from './smtp-reply-error.js';
import { listenSmtp, type ListeningSmtp } from './listen.js';
import type { TlsMaterial } from './tls.js';

export interface BounceServerOptions {
  deps: ServiceDeps;
  settings: FeedbackSettings;
  host: string;
  port: number;
  logger: Logger;
  /** Offer STARTTLS with this certificate (reporting servers use it when offered); none: plain text only. */
  tls?: TlsMaterial | undefined;
  /** Largest report accepted, bytes (advertised with SIZE); default 10 MiB, the parsers' limit. */
  maxSize?: number;
  /** Most recipients of one transaction (a report goes to one address; a few are tolerated). */
  maxRecipients?: number;
  /** Most connections at once. */
  maxClients?: number;
  name?: string;
}

/** Where it listens, and how to stop it: waits up to `timeoutMs` for open transactions. */
export type BounceServer = ListeningSmtp;

type Accepted = Extract<InboundRecipient, { accept: true }>;

export async function startBounceServer(options: BounceServerOptions): Promise<BounceServer> {
  const { deps, settings, logger } = options;
  const maxSize = options.maxSize ?? MAX_REPORT_BYTES;
  const maxRecipients = options.maxRecipients ?? 10;
  /** The accepted recipients of each session's current transaction. */
  const transactions = new Map<string, Accepted[]>();

  const server = new SMTPServer({
    name: options.name ?? hostname(),
    banner: 'Herald bounce and feedback listener',
    size: maxSize,
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    maxClients: options.maxClients ?? 100,
    logger: false,
    closeTimeout: 30_000,
    onMailFrom(_address, session, callback) {
      transactions.set(session.id, []);
      callback();
    },
    onRcptTo(address: SMTPServerAddress, session, callback) {
      const accepted = transactions.get(session.id) ?? [];
      if (accepted.length >= maxRecipients) return callback(new SmtpReplyError(452, '4.5.3', `too many recipients; at most ${maxRecipients}`));
      const verdict = inboundRecipient(settings, address.address);
      if (!verdict.accept) {
        logger.info({ session: session.id, remote: session.remoteAddress, rcpt: address.address.slice(0, 320), reason: verdict.reason }, 'bounce listener refused a recipient');
        return callback(new SmtpReplyError(550, '5.1.1', 'no such mailbox here'));
      }
      accepted.push(verdict);
      transactions.set(session.id, accepted);
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(chunk);
      });
      stream.on('error', (error: Error) => callback(new SmtpReplyError(451, '4.3.0', `message not received: ${error.message}`)));
      stream.on('end', () => {
        const recipients = transactions.get(session.id) ?? [];
        transactions.set(session.id, []);
        if (stream.sizeExceeded) {
          logger.info({ session: session.id, remote: session.remoteAddress, limit: maxSize }, 'bounce listener refused an oversized report');
          return callback(new SmtpReplyError(552, '5.3.4', `message exceeds the limit of ${maxSize} bytes`));
        }
        const raw = Buffer.concat(chunks);
        handle(recipients, raw, session.id, session.remoteAddress)
          .then(() => callback(null, '2.0.0 report received'))
          .catch((error: unknown) => {
            logger.error({ err: error, session: session.id }, 'bounce listener could not record a report; the sender will retry');
            callback(new SmtpReplyError(451, '4.3.0', 'temporary failure; try again later'));
          });
      });
    },
    onClose(session) {
      transactions.delete(session.id);
    },
  });
  server.on('error', (error: Error) => logger.warn({ err: error }, 'bounce listener connection error'));

  async function handle(recipients: Accepted[], raw: Buffer, session: string, remote: string): Promise<void> {
    for (const to of recipients) {
      const result = await recordInboundMail(deps, settings, to, raw);
      logResult(logger, result, { session, remote, kind: to.kind, size: raw.length });
    }
  }

  return listenSmtp(server, options.port, options.host);
}

/** One log line per fact: what was recorded, or why nothing was. */
export function logResult(logger: Logger, result: FeedbackResult, context: Record<string, unknown>): void {
  if (result.reason !== undefined) logger.info({ ...context, format: result.format, reason: result.reason }, 'feedback ignored');
  for (const outcome of result.outcomes) {
    if (outcome.recorded) {
      logger.info({ ...context, format: result.format, messageId: outcome.messageId, event: outcome.event, suppressed: outcome.suppressed }, 'feedback recorded');
    } else {
      logger.info({ ...context, format: result.format, messageId: outcome.messageId, reason: outcome.reason }, 'feedback ignored');
    }
  }
}
