/**
 * Chooses the way out from the configuration: capture (the outbox), an SMTP smart host
 * (`--relay`), or direct delivery to each domain's MX hosts (`--deliver mx`), which is shaped per
 * destination provider. Returns the shaper too, so its state can be shown at `GET /v1/shaping`.
 */
import { hostname } from 'node:os';
import type { DeliveryMode } from '../config/schema.js';
import { CaptureTransport } from './capture.js';
import { MxTransport } from './mx/mx-transport.js';
import { TrafficShaper, type SharedBudget } from './shaping/traffic-shaper.js';
import { SmtpRelayTransport } from './smtp-relay.js';
import type { Transport } from './transport.js';

export interface TransportConfig {
  deliver: DeliveryMode;
  relay: string | undefined;
  relayConnections: number;
  relayVerifyTls: boolean;
  dnsServers: string[] | undefined;
  mxPort: number;
  heloName: string | undefined;
  allowPrivateMx: boolean;
}

export interface SelectedTransport {
  transport: Transport;
  shaper: TrafficShaper | null;
  /** One line for the start-up banner. */
  description: string;
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** `shared`: the shaping budget every worker pays from (services/shaping.ts); default: per process. */
export function createTransport(config: TransportConfig, options: { shared?: SharedBudget } = {}): SelectedTransport {
  const mode = config.deliver === 'auto' ? (config.relay === undefined ? 'capture' : 'relay') : config.deliver;
  if (mode === 'mx') {
    const shaper = new TrafficShaper(options.shared ? { shared: options.shared } : {});
    const transport = new MxTransport({
      resolver: config.dnsServers === undefined ? {} : { servers: config.dnsServers },
      port: config.mxPort,
      clientName: config.heloName ?? hostname(),
      allowPrivate: config.allowPrivateMx,
      shaper,
    });
    const dns = config.dnsServers?.join(', ') ?? 'system resolver';
    return { transport, shaper, description: `direct to MX (port ${config.mxPort}, DNS: ${dns}), shaped per provider` };
  }
  if (mode === 'relay' && config.relay !== undefined) {
    const transport = new SmtpRelayTransport({
      url: config.relay,
      maxConnections: config.relayConnections,
      verifyTls: config.relayVerifyTls,
      ...(config.heloName !== undefined ? { clientName: config.heloName } : {}),
    });
    return { transport, shaper: null, description: `smtp relay ${redact(config.relay)}` };
  }
  return { transport: new CaptureTransport(), shaper: null, description: 'capture (read it at GET /v1/outbox)' };
}
