/**
 * Opening the byte stream under an SMTP connection: the TCP connect and the TLS handshake
 * (implicit TLS before the greeting, or after `220` to STARTTLS). Each step has its own timeout
 * and turns every error into an `SmtpFailure` with code 0, so a refused port or a bad certificate
 * reaches the caller as a result, never as an unhandled 'error' event.
 */
import { connect as connectNet, isIP, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { SmtpFailure } from './smtp-reply.js';

export interface TlsSettings {
  rejectUnauthorized?: boolean;
  servername?: string;
}

export function connectTcp(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectNet({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(SmtpFailure.noReply(`connecting to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(SmtpFailure.noReply(`connecting to ${host}:${port} failed: ${error.message}`, error));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      // Pipelined groups are small writes that must leave at once; Nagle would hold each one
      // back for the previous reply and undo the point of pipelining.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * Runs the TLS handshake over an open socket. `host` is what the certificate is checked against
 * unless `tls.servername` says otherwise; an IP address is never sent as SNI (RFC 6066 forbids it).
 */
export function upgradeToTls(socket: Socket, host: string, tls: TlsSettings, timeoutMs: number): Promise<TLSSocket> {
  const servername = tls.servername ?? host;
  return new Promise((resolve, reject) => {
    const secure = connectTls({
      socket,
      servername: isIP(servername) === 0 ? servername : undefined,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      // Certificate checks use the name even when SNI cannot carry it.
      host: servername,
    });
    const fail = (description: string, cause?: unknown): void => {
      clearTimeout(timer);
      secure.destroy();
      socket.destroy();
      reject(SmtpFailure.noReply(description, cause));
    };
    const timer = setTimeout(() => fail(`TLS handshake with ${host} timed out after ${timeoutMs} ms`), timeoutMs);
    const onError = (error: Error): void => fail(`TLS handshake with ${host} failed: ${error.message}`, error);
    const onClose = (): void => fail(`TLS handshake with ${host} failed: connection closed by the server`);
    secure.once('error', onError);
    secure.once('close', onClose);
    // The TLS socket owns the stream from here; whatever the plain socket still reports belongs
    // to whoever listens on the TLS socket, and must never become an unhandled 'error'.
    socket.on('error', (error) => secure.destroy(error));
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.off('error', onError);
      secure.off('close', onClose);
      resolve(secure);
    });
  });
}
