/**
 * Reads the identifiers Herald matches on out of a returned original message (or its headers)
 * attached to a bounce or complaint report.
 *
 * Owns: which header says what. Must not: trust the body, or read past the header block.
 */
import { addressIn, fieldValue, parseHeaderBlock } from './field-blocks.js';
import { normaliseMessageId } from './feedback-limits.js';

export interface ReturnedMessage {
  /** `<id@host>`, as Herald stores its own Message-ID header. */
  messageId: string | null;
  /** The first address of the To header, when it is still a real address (ARF reports often redact it). */
  to: string | null;
  /** Microsoft's JMRP reports name the complaining mailbox in this header of the returned copy. */
  hotmailRecipient: string | null;
}

const NOTHING: ReturnedMessage = { messageId: null, to: null, hotmailRecipient: null };

/** The identifiers in `original`; all null when there is no returned message. */
export function readReturnedMessage(original: string | null): ReturnedMessage {
  if (original === null) return NOTHING;
  const headers = parseHeaderBlock(original);
  return {
    messageId: normaliseMessageId(fieldValue(headers, 'message-id')),
    to: unredacted(addressIn(fieldValue(headers, 'to'))),
    hotmailRecipient: unredacted(addressIn(fieldValue(headers, 'x-hmxmroriginalrecipient'))),
  };
}

/** Drops placeholder addresses that feedback loops put in place of the real one. */
export function unredacted(address: string | null): string | null {
  if (address === null) return null;
  return /redacted|^\*+@/i.test(address) ? null : address;
}
