/** Structured JSON logs (pino). One logger per process, passed down; never imported as a global. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino({ level, base: { service: 'herald' } }, destination) : pino({ level, base: { service: 'herald' } });
}
