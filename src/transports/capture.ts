/**
 * The development transport: nothing leaves the machine. Each message is "accepted" with a 250
 * and its exact bytes are kept in the store's outbox (`GET /v1/outbox/:id/raw`), so what would
 * have been sent can be read.
 */
import type { OutgoingMessage, Transport, TransportResult, TransportStats } from './transport.js';

export class CaptureTransport implements Transport {
  readonly name = 'capture';

  async send(message: OutgoingMessage): Promise<TransportResult> {
    const raw = typeof message.raw === 'string' ? message.raw : message.raw.toString('utf8');
    return { code: 250, reply: '250 2.0.0 captured in the outbox', captured: raw };
  }

  stats(): TransportStats {
    return { connections: 0, queued: 0, inFlight: 0 };
  }

  async close(): Promise<void> {}
}
