/**
 * A refusal the SMTP relay sends to its client. smtp-server reads `responseCode` from the error it
 * is given; the enhanced status code (RFC 3463) leads the reply text.
 */
import type { HeraldError } from '../core/errors.js';

export class SmtpReplyError extends Error {
  constructor(
    readonly responseCode: number,
    readonly enhancedStatus: string,
    text: string,
  ) {
    super(`${enhancedStatus} ${text}`);
    this.name = 'SmtpReplyError';
  }
}

/** The SMTP reply for an error a service raised while taking a message in. */
export function replyForHeraldError(error: HeraldError): SmtpReplyError {
  switch (error.code) {
    case 'store_unavailable':
      return new SmtpReplyError(451, '4.3.0', 'temporarily unable to accept the message; try again later');
    case 'insufficient_scope':
      return new SmtpReplyError(550, '5.7.1', error.message);
    case 'domain_not_verified':
      return new SmtpReplyError(550, '5.7.1', error.message);
    case 'invalid_address':
      return new SmtpReplyError(553, '5.1.3', error.message);
    case 'too_many_recipients':
      return new SmtpReplyError(452, '4.5.3', error.message);
    default:
      return error.status >= 500
        ? new SmtpReplyError(451, '4.3.0', 'temporary failure; try again later')
        : new SmtpReplyError(550, '5.6.0', error.message);
  }
}
