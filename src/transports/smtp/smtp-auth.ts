/**
 * SASL over SMTP (RFC 4954) with the two mechanisms smart hosts actually offer: PLAIN in one
 * round trip when possible, LOGIN otherwise. Credentials never appear in a failure's text.
 */
import type { Capabilities } from './capabilities.js';
import type { SmtpChannel } from './smtp-channel.js';
import { SmtpFailure, type SmtpReply } from './smtp-reply.js';

export interface Credentials {
  user: string;
  pass: string;
}

export async function authenticate(
  channel: SmtpChannel,
  credentials: Credentials,
  capabilities: Capabilities,
  timeoutMs: number,
): Promise<void> {
  if (capabilities.auth.has('PLAIN')) {
    const token = base64(`\0${credentials.user}\0${credentials.pass}`);
    expect(235, await channel.request(`AUTH PLAIN ${token}`, timeoutMs, 'the reply to AUTH PLAIN'), 'AUTH PLAIN');
    return;
  }
  if (capabilities.auth.has('LOGIN')) {
    expect(334, await channel.request('AUTH LOGIN', timeoutMs, 'the reply to AUTH LOGIN'), 'AUTH LOGIN');
    expect(334, await channel.request(base64(credentials.user), timeoutMs, 'the AUTH LOGIN password prompt'), 'the AUTH LOGIN user name');
    expect(235, await channel.request(base64(credentials.pass), timeoutMs, 'the reply to the AUTH LOGIN password'), 'the AUTH LOGIN password');
    return;
  }
  const offered = [...capabilities.auth].join(' ') || 'none';
  throw SmtpFailure.noReply(`the server offers no AUTH mechanism Herald supports (PLAIN, LOGIN); it offers: ${offered}`);
}

/** A refusal keeps the server's code (535 and friends); anything else odd has no usable code. */
function expect(code: number, reply: SmtpReply, step: string): void {
  if (reply.code === code) return;
  if (reply.code >= 400) throw SmtpFailure.fromReply(reply);
  throw SmtpFailure.noReply(`unexpected reply to ${step}: ${reply.text}`);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
