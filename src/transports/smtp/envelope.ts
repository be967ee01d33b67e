/**
 * Decides, before anything is written, what a message's transaction looks like on a server with
 * the given capabilities: the `MAIL FROM` and `RCPT TO` lines with their parameters and the
 * dot-stuffed data. A message the server has already said it cannot take (too big, needs
 * SMTPUTF8 it lacks) or whose addresses could inject commands is refused here with the reply
 * code a server would have used, so it never costs a round trip.
 */
import type { Capabilities } from './capabilities.js';
import { dotStuff, hasEightBitBytes } from './dot-stuff.js';
import type { SmtpEnvelopeMessage, SmtpResult } from './smtp-pool.js';

export interface PreparedTransaction {
  readonly mailCommand: string;
  readonly rcptCommand: string;
  /** Dot-stuffed, ending in `<CRLF>.<CRLF>`. */
  readonly data: Buffer;
}

export type Preparation = { ok: true; transaction: PreparedTransaction } | { ok: false; refusal: SmtpResult };

/** CR or LF would end the command line early and let the rest be read as a new command. */
const UNSAFE_IN_ADDRESS = /[\r\n<>\0]/;
const NON_ASCII = /[\u0080-\uffff]/;

export function prepareTransaction(message: SmtpEnvelopeMessage, capabilities: Capabilities): Preparation {
  const { sender, recipient } = message;
  if (UNSAFE_IN_ADDRESS.test(sender)) {
    return refuse(501, `5.1.7 sender address ${JSON.stringify(sender)} contains characters not allowed in SMTP`);
  }
  if (recipient.length === 0 || UNSAFE_IN_ADDRESS.test(recipient)) {
    return refuse(501, `5.1.3 recipient address ${JSON.stringify(recipient)} is empty or contains characters not allowed in SMTP`);
  }
  const needsUtf8 = NON_ASCII.test(sender) || NON_ASCII.test(recipient);
  if (needsUtf8 && !capabilities.smtpUtf8) {
    return refuse(553, '5.6.7 a non-ASCII address needs SMTPUTF8, which the server does not offer; not sent');
  }

  const raw = typeof message.raw === 'string' ? Buffer.from(message.raw, 'utf8') : message.raw;
  if (capabilities.size !== null && capabilities.size > 0 && raw.length > capabilities.size) {
    return refuse(552, `5.3.4 message size ${raw.length} exceeds the server limit ${capabilities.size}`);
  }

  let mailCommand = `MAIL FROM:<${sender}>`;
  if (capabilities.size !== null) mailCommand += ` SIZE=${raw.length}`;
  if (capabilities.eightBitMime && hasEightBitBytes(raw)) mailCommand += ' BODY=8BITMIME';
  if (needsUtf8) mailCommand += ' SMTPUTF8';
  return {
    ok: true,
    transaction: { mailCommand: `${mailCommand}\r\n`, rcptCommand: `RCPT TO:<${recipient}>\r\n`, data: dotStuff(raw) },
  };
}

/** Local refusals carry no code prefix in their text: no server said them. */
function refuse(code: number, reply: string): Preparation {
  return { ok: false, refusal: { code, reply } };
}
