/**
 * Everything between the TCP connect and the first transaction: greeting, EHLO (HELO for servers
 * that refuse EHLO), STARTTLS and a second EHLO, AUTH. Lock-step throughout: pipelining is only
 * known after EHLO, and RFC 2920 forbids pipelining past EHLO and STARTTLS anyway.
 *
 * Any refusal throws an `SmtpFailure` carrying the server's code (a 554 greeting, 535 to AUTH),
 * or code 0 when nothing usable came back; the connection hands it to the sends waiting for it.
 */
import { NO_CAPABILITIES, parseEhloReply, type Capabilities } from './capabilities.js';
import { authenticate } from './smtp-auth.js';
import type { SmtpChannel } from './smtp-channel.js';
import { SmtpFailure } from './smtp-reply.js';
import type { SmtpTarget } from './smtp-pool.js';

export interface HandshakeTimeouts {
  greeting: number;
  command: number;
  /** The STARTTLS handshake itself. */
  tls: number;
}

export async function handshake(channel: SmtpChannel, target: SmtpTarget, timeouts: HandshakeTimeouts): Promise<Capabilities> {
  const greeting = await channel.waitReply(timeouts.greeting, 'the greeting');
  if (greeting.code !== 220) throw SmtpFailure.fromReply(greeting);
  let capabilities = await hello(channel, target.clientName, timeouts.command);

  if (!target.secure) {
    const wantsTls = target.startTls !== false || target.requireTls === true;
    if (wantsTls && capabilities.startTls) {
      const reply = await channel.request('STARTTLS', timeouts.command, 'the reply to STARTTLS');
      if (reply.code === 220) {
        await channel.startTls(target.host, target.tls ?? {}, timeouts.tls);
        // RFC 3207 §4.2: everything learnt before TLS is void, including the capabilities.
        capabilities = await hello(channel, target.clientName, timeouts.command);
      } else if (target.requireTls === true) {
        throw SmtpFailure.fromReply(reply);
      }
      // Refused and not required: opportunistic TLS carries on in the clear.
    } else if (target.requireTls === true) {
      throw SmtpFailure.noReply(`${target.host}:${target.port} does not offer STARTTLS and this target requires TLS; not sent`);
    }
  }

  if (target.auth !== undefined) await authenticate(channel, target.auth, capabilities, timeouts.command);
  return capabilities;
}

async function hello(channel: SmtpChannel, clientName: string, timeoutMs: number): Promise<Capabilities> {
  const ehlo = await channel.request(`EHLO ${clientName}`, timeoutMs, 'the reply to EHLO');
  if (ehlo.positive) return parseEhloReply(ehlo);
  // RFC 5321 §3.2: a 5xx to EHLO is an old server that only speaks HELO; a 4xx is a refusal.
  if (ehlo.code < 500) throw SmtpFailure.fromReply(ehlo);
  const helo = await channel.request(`HELO ${clientName}`, timeoutMs, 'the reply to HELO');
  if (!helo.positive) throw SmtpFailure.fromReply(helo);
  return NO_CAPABILITIES;
}
