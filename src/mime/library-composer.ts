/**
 * The fallback composer, for content the fast path does not cover (attachments, inline images):
 * nodemailer's MailComposer, given the same fields as MessageComposer so that both produce the
 * same headers (Message-ID and Date as given, no X-Mailer). Slow, and meant to stay the rare path.
 */
import type Mail from 'nodemailer/lib/mailer/index.js';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Address, Attachment } from '../core/types.js';
import type { MessageParts, SharedParts } from './composer.js';
import { CRLF, assertFieldName, assertNoLineBreak } from './encoding.js';

function toMailAddress(address: Address): Mail.Address | string {
  assertNoLineBreak('Address', address.email);
  if (address.name === undefined || address.name === '') return address.email;
  assertNoLineBreak('Display name', address.name);
  return { name: address.name, address: address.email };
}

function toMailAttachment(attachment: Attachment): Mail.Attachment {
  return {
    filename: attachment.filename,
    content: attachment.content,
    encoding: 'base64',
    ...(attachment.contentType !== undefined ? { contentType: attachment.contentType } : {}),
    ...(attachment.contentId !== undefined ? { cid: attachment.contentId } : {}),
    ...(attachment.disposition !== undefined ? { contentDisposition: attachment.disposition } : {}),
  };
}

/** Shared custom headers, with any a per-message header of the same name (in any case) replaces. */
function mergedHeaders(shared: Record<string, string>, extra: Record<string, string> | undefined): Record<string, string> {
  const replaced = new Set(Object.keys(extra ?? {}).map((name) => name.toLowerCase()));
  const merged: Record<string, string> = {};
  for (const [name, value] of [...Object.entries(shared).filter(([name]) => !replaced.has(name.toLowerCase())), ...Object.entries(extra ?? {})]) {
    assertFieldName(name);
    assertNoLineBreak(`Header ${name}`, value);
    merged[name] = value;
  }
  return merged;
}

/** The complete message with its attachments, CRLF line endings, ending with CRLF. Not dot-stuffed. */
export async function composeWithAttachments(shared: SharedParts, parts: MessageParts, attachments: Attachment[]): Promise<string> {
  assertNoLineBreak('Subject', parts.subject);
  assertNoLineBreak('Message-ID', parts.messageId);
  const composer = new MailComposer({
    from: toMailAddress(shared.from),
    ...(parts.to.length > 0 ? { to: parts.to.map(toMailAddress) } : {}),
    ...(shared.cc.length > 0 ? { cc: shared.cc.map(toMailAddress) } : {}),
    ...(shared.replyTo.length > 0 ? { replyTo: shared.replyTo.map(toMailAddress) } : {}),
    subject: parts.subject,
    messageId: parts.messageId,
    date: parts.date,
    headers: mergedHeaders(shared.headers, parts.headers),
    ...(parts.text !== undefined ? { text: parts.text } : {}),
    ...(parts.html !== undefined ? { html: parts.html } : {}),
    attachments: attachments.map(toMailAttachment),
  });
  const raw = (await composer.compile().build()).toString('utf8');
  return raw.endsWith(CRLF) ? raw : raw + CRLF;
}
