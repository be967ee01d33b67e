/** Chooses the transport from the configuration: an SMTP smart host when `--relay` is set, else capture. */
import { CaptureTransport } from './capture.js';
import { SmtpRelayTransport } from './smtp-relay.js';
import type { Transport } from './transport.js';

export interface TransportConfig {
  relay: string | undefined;
  relayConnections: number;
  relayVerifyTls: boolean;
}

export function createTransport(config: TransportConfig): Transport {
  if (config.relay === undefined) return new CaptureTransport();
  return new SmtpRelayTransport({ url: config.relay, maxConnections: config.relayConnections, verifyTls: config.relayVerifyTls });
}
