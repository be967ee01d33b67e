/**
 * What a delivery attempt's reply means, decided from data tables rather than scattered ifs.
 *
 * A 2xx reply means the receiving server took the message (`sent`). A 4xx reply, a timeout or a
 * connection error is temporary (`deferred`, retried). A 5xx reply is a bounce, and its enhanced
 * status code (RFC 3463) decides whether it is hard (the address will never work: suppress it) or
 * soft (mailbox full, policy, content: the address may work later). The split follows common
 * practice (sisimai, SES, Postmark; see shared/reference/provider-apis.md §8).
 */

/** Enhanced status codes of permanent failures that mean the address itself is bad. */
export const HARD_BOUNCE_STATUSES: ReadonlySet<string> = new Set([
  '5.1.0', // other address status
  '5.1.1', // bad destination mailbox address (user unknown)
  '5.1.2', // bad destination system address (host unknown)
  '5.1.3', // bad destination mailbox address syntax
  '5.1.6', // destination mailbox has moved
  '5.1.10', // recipient address has null MX
  '5.4.4', // unable to route (no such domain)
  '5.7.27', // sender address has null MX
]);

/** Reply text patterns that mean "no such user" when a server sends no enhanced code. */
export const HARD_BOUNCE_TEXT: readonly RegExp[] = [
  /user (is )?unknown/i,
  /no such (user|mailbox|recipient)/i,
  /(mailbox|recipient|address) (does not exist|not found|unavailable|rejected)/i,
  /unknown (user|recipient|mailbox)/i,
  /invalid (recipient|mailbox)/i,
];

export type AttemptVerdict =
  | { status: 'sent'; reply: string }
  | { status: 'deferred'; reply: string }
  | { status: 'bounced'; reply: string; bounceClass: 'hard' | 'soft'; enhancedStatus: string | null };

const ENHANCED = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

/** Pulls the enhanced status code (`5.1.1`) out of an SMTP reply text, if there is one. */
export function enhancedStatusOf(reply: string): string | null {
  const match = ENHANCED.exec(reply);
  return match ? `${match[1]}.${match[2]}.${match[3]}` : null;
}

/** Hard or soft, for a permanent (5xx) reply. */
export function classifyBounce(reply: string, enhancedStatus: string | null): 'hard' | 'soft' {
  if (enhancedStatus !== null) return HARD_BOUNCE_STATUSES.has(enhancedStatus) ? 'hard' : 'soft';
  return HARD_BOUNCE_TEXT.some((pattern) => pattern.test(reply)) ? 'hard' : 'soft';
}

/**
 * The verdict for one recipient's reply code and text. `code` 0 stands for no reply at all
 * (timeout, refused or dropped connection), which is always temporary.
 */
export function verdictForReply(code: number, reply: string): AttemptVerdict {
  if (code >= 200 && code < 300) return { status: 'sent', reply };
  if (code >= 500 && code < 600) {
    const enhancedStatus = enhancedStatusOf(reply);
    return { status: 'bounced', reply, bounceClass: classifyBounce(reply, enhancedStatus), enhancedStatus };
  }
  return { status: 'deferred', reply };
}

/*
 * Failures reported after the fact (RFC 3464 DSNs, plain-text bounces, provider webhooks). The
 * same hard/soft policy as above, with two additions that only matter for reports: a reporting
 * MTA often puts a generic class-only status (5.0.0) in its Status field while the remote reply
 * it quotes carries the specific one, and large mailbox providers word "no such user" in ways the
 * generic patterns above do not catch. The engine's live replies keep using `classifyBounce`.
 */

/** Wordings of "this address does not exist" from large mailbox providers and MTAs, seen in bounce reports. */
export const HARD_BOUNCE_REPORT_TEXT: readonly RegExp[] = [
  /RESOLVER\.ADR\.Recip(ient)?NotFound/i, // Microsoft Exchange / Office 365
  /account that you tried to reach does not exist/i, // Gmail
  /doesn't have an? \S+ account/i, // Yahoo: "dd This user doesn't have a yahoo.com account"
  /no mailbox here by that name/i, // qmail
  /user (does not|doesn't) exist/i,
  /recipient not found/i,
  /unrouteable address/i, // Exim: the domain has no route (as 5.4.4)
];

/** True for a class-only enhanced status (`5.0.0`, `4.0.0`), which says nothing about the cause. */
export function isGenericStatus(status: string): boolean {
  return /^[245]\.0\.0$/.test(status);
}

/**
 * Hard or soft for a reported failure. A specific enhanced status decides through
 * `HARD_BOUNCE_STATUSES`; a temporary (4.x.x) one is always soft; a missing or generic permanent
 * one falls back to the reply text, checked against both pattern lists.
 */
export function classifyReportedBounce(status: string | null, text: string): 'hard' | 'soft' {
  if (status !== null && status.startsWith('4')) return 'soft';
  if (status !== null && !isGenericStatus(status)) return classifyBounce(text, status);
  const patterns = [...HARD_BOUNCE_TEXT, ...HARD_BOUNCE_REPORT_TEXT];
  return patterns.some((pattern) => pattern.test(text)) ? 'hard' : 'soft';
}
