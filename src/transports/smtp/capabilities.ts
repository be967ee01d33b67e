/**
 * What a server said it supports, read from its EHLO reply. Everything else in the client asks
 * these flags instead of looking at reply text, so a server that answered HELO simply has none.
 */
import type { SmtpReply } from './smtp-reply.js';

export interface Capabilities {
  /** RFC 2920: commands may be sent in groups, replies come back in order. */
  readonly pipelining: boolean;
  /** RFC 1870: `null` when SIZE is not offered, 0 when offered without a limit. */
  readonly size: number | null;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly startTls: boolean;
  /** Upper-cased SASL mechanisms offered (`PLAIN`, `LOGIN`, …). */
  readonly auth: ReadonlySet<string>;
}

/** A server that only answered HELO (or whose EHLO listed nothing). */
export const NO_CAPABILITIES: Capabilities = Object.freeze({
  pipelining: false,
  size: null,
  eightBitMime: false,
  smtpUtf8: false,
  startTls: false,
  auth: new Set<string>(),
});

/** Reads the keyword lines of an EHLO reply; the first line is the server's greeting name. */
export function parseEhloReply(reply: SmtpReply): Capabilities {
  let pipelining = false;
  let size: number | null = null;
  let eightBitMime = false;
  let smtpUtf8 = false;
  let startTls = false;
  const auth = new Set<string>();
  for (const line of reply.lines.slice(1)) {
    const [keyword = '', ...params] = line.trim().split(/[\s=]+/);
    switch (keyword.toUpperCase()) {
      case 'PIPELINING':
        pipelining = true;
        break;
      case 'SIZE': {
        const limit = Number(params[0] ?? '0');
        size = Number.isSafeInteger(limit) && limit > 0 ? limit : 0;
        break;
      }
      case '8BITMIME':
        eightBitMime = true;
        break;
      case 'SMTPUTF8':
        smtpUtf8 = true;
        break;
      case 'STARTTLS':
        startTls = true;
        break;
      case 'AUTH':
        // `AUTH=PLAIN LOGIN` is the pre-standard spelling some servers still send; the split on
        // `=` above makes both spellings the same list.
        for (const mechanism of params) auth.add(mechanism.toUpperCase());
        break;
    }
  }
  return Object.freeze({ pipelining, size, eightBitMime, smtpUtf8, startTls, auth });
}
