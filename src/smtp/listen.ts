/**
 * Puts an smtp-server instance on its port, for both of Herald's SMTP listeners (the relay and
 * the bounce listener): resolves once it listens (rejects if the port cannot be had), with the
 * port it got (0 picks a free one) and a close that waits for open sessions up to a timeout.
 */
import type { SMTPServer } from 'smtp-server';

export interface ListeningSmtp {
  port: number;
  /** Stops accepting and resolves when open sessions have ended, or after `timeoutMs`. */
  close: (timeoutMs: number) => Promise<void>;
}

export async function listenSmtp(server: SMTPServer, port: number, host: string): Promise<ListeningSmtp> {
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: (timeoutMs: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
