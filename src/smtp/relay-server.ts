/**
 * The SMTP relay: mail submission for applications that speak SMTP instead of HTTP. Clients
 * authenticate with AUTH PLAIN/LOGIN (key id as user, secret as password) after STARTTLS, or are
 * recognised by their source network (SMTP-IP keys). Without either, nothing is relayed. Each
 * envelope recipient becomes a message in the same pipeline as the HTTP API, and `250` is sent
 * only once the message is committed to the store.
 *
 * Must not: relay without a principal, crash on any client behaviour, or answer 250 before commit.
 */
import { hostname } from 'node:os';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { isValidAddress, normaliseAddress } from '../core/address.js';
import { HeraldError } from '../core/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Principal, ServiceDeps } from '../services/deps.js';
import { authenticateIdAndSecret, keyForSmtpClient } from '../services/keys.js';
import { acceptRaw } from '../services/send.js';
import { replyForHeraldError, SmtpReplyError } from './smtp-reply-error.js';
import { listenSmtp, type ListeningSmtp } from './listen.js';
import type { TlsMaterial } from './tls.js';

export interface RelayServerOptions {
  deps: ServiceDeps;
  host: string;
  port: number;
  /** Largest message accepted, bytes (advertised with SIZE). */
  maxSize: number;
  maxRecipients: number;
  tls: TlsMaterial;
  /** Offer AUTH before STARTTLS (only for trusted networks). */
  allowInsecureAuth?: boolean;
  logger: Logger;
  name?: string;
}

/** Where it listens, and how to stop it: waits up to `timeoutMs` for open transactions. */
export type RelayServer = ListeningSmtp;

function receivedHeader(session: SMTPServerSession, serverName: string, now: Date): string {
  const helo = session.hostNameAppearsAs || 'unknown';
  const protocol = `ESMTP${session.secure ? 'S' : ''}${session.user ? 'A' : ''}`;
  return `Received: from ${helo} ([${session.remoteAddress}])\r\n\tby ${serverName} (Herald) with ${protocol} id ${session.id};\r\n\t${now.toUTCString().replace('GMT', '+0000')}\r\n`;
}

export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  const { deps, logger } = options;
  const serverName = options.name ?? hostname();
  /** The principal each session acts for, once known (AUTH, or its source network at MAIL FROM). */
  const principals = new Map<string, Principal>();

  const server = new SMTPServer({
    name: serverName,
    banner: 'Herald SMTP relay',
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.maxSize,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: options.allowInsecureAuth ?? false,
    disabledCommands: [],
    logger: false,
    closeTimeout: 30_000,
    onAuth(auth, session, callback) {
      authenticateIdAndSecret(deps, auth.username ?? '', auth.password ?? '')
        .then((principal) => {
          principals.set(session.id, principal);
          callback(null, { user: principal.keyId });
        })
        .catch((error: unknown) => {
          if (error instanceof HeraldError && error.code === 'invalid_api_key') {
            callback(new SmtpReplyError(535, '5.7.8', 'authentication credentials invalid'));
          } else {
            logger.error({ err: error }, 'SMTP AUTH failed on a store error');
            callback(new SmtpReplyError(454, '4.7.0', 'temporary authentication failure'));
          }
        });
    },
    onMailFrom(address: SMTPServerAddress, session, callback) {
      const known = principals.get(session.id);
      const check = known
        ? Promise.resolve(known)
        : keyForSmtpClient(deps, session.remoteAddress).then((principal) => {
            if (principal) principals.set(session.id, principal);
            return principal;
          });
      check
        .then((principal) => {
          if (!principal) return callback(new SmtpReplyError(530, '5.7.0', 'authentication required'));
          if (principal.scope === 'read') return callback(new SmtpReplyError(550, '5.7.1', 'this key may not send'));
          if (address.address !== '' && !isValidAddress(address.address)) {
            return callback(new SmtpReplyError(553, '5.1.7', `sender address <${address.address}> is not valid`));
          }
          callback();
        })
        .catch((error: unknown) => {
          logger.error({ err: error }, 'SMTP MAIL FROM check failed on a store error');
          callback(new SmtpReplyError(451, '4.3.0', 'temporary failure; try again later'));
        });
    },
    onRcptTo(address: SMTPServerAddress, session, callback) {
      if (!isValidAddress(address.address)) {
        return callback(new SmtpReplyError(553, '5.1.3', `recipient address <${address.address}> is not valid`));
      }
      if (session.envelope.rcptTo.length >= options.maxRecipients) {
        return callback(new SmtpReplyError(452, '4.5.3', `too many recipients; at most ${options.maxRecipients} per message`));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(chunk);
      });
      stream.on('error', (error: Error) => callback(new SmtpReplyError(451, '4.3.0', `message not received: ${error.message}`)));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          return callback(new SmtpReplyError(552, '5.3.4', `message exceeds the limit of ${options.maxSize} bytes`));
        }
        const principal = principals.get(session.id);
        if (!principal) return callback(new SmtpReplyError(530, '5.7.0', 'authentication required'));
        const body = Buffer.concat(chunks);
        const trace = Buffer.from(receivedHeader(session, serverName, deps.clock.now()));
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        acceptRaw(deps, principal, {
          mailFrom: mailFrom === '' ? '' : normaliseAddress(mailFrom),
          recipients: session.envelope.rcptTo.map((r) => normaliseAddress(r.address)),
          raw: Buffer.concat([trace, body]),
        })
          .then((result) => callback(null, `2.0.0 accepted as ${result.id} (${result.messages.length} recipients)`))
          .catch((error: unknown) => {
            if (error instanceof HeraldError) return callback(replyForHeraldError(error));
            logger.error({ err: error, session: session.id }, 'SMTP message could not be accepted');
            callback(new SmtpReplyError(451, '4.3.0', 'temporary failure; nothing was accepted, try again later'));
          });
      });
    },
    onClose(session) {
      principals.delete(session.id);
    },
  });
  server.on('error', (error: Error) => logger.warn({ err: error }, 'SMTP connection error'));

  return listenSmtp(server, options.port, options.host);
}
