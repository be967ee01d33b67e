/**
 * Turns a `/v1/emails` body (already shape-checked by the API schema) into validated domain
 * values. Every rule here names the field in the request's own terms (`to[2]`, `headers.X-A`),
 * so that all intakes (v1, compat, CLI) report errors the same way.
 */
import { assertHeaderSafe, parseMailbox } from '../core/address.js';
import { HeraldError, invalid } from '../core/errors.js';
import type { Address, Attachment, Stream } from '../core/types.js';

export type AddressInput = string | { email: string; name?: string };

export interface EmailInput {
  from: AddressInput;
  to?: AddressInput | AddressInput[];
  cc?: AddressInput | AddressInput[];
  bcc?: AddressInput | AddressInput[];
  reply_to?: AddressInput | AddressInput[];
  subject?: string;
  html?: string;
  text?: string;
  template_id?: string;
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
  tags?: string[];
  metadata?: Record<string, string>;
  attachments?: { filename: string; content: string; content_type?: string; content_id?: string; disposition?: 'attachment' | 'inline' }[];
  send_at?: string;
  stream?: Stream;
  /** Open/click tracking for this email's html (services/tracking-options.ts); absent: the workspace default. */
  tracking?: { opens?: boolean; clicks?: boolean };
}

export interface ValidEmail {
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  replyTo: Address[];
  subject: string;
  html?: string;
  text?: string;
  headers: Record<string, string>;
  tags: string[];
  metadata: Record<string, string>;
  attachments: Attachment[];
  sendAt: Date | null;
  stream: Stream;
}

/** Headers Herald writes itself; a request may not set them through `headers`. */
const RESERVED_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'date', 'message-id', 'mime-version',
  'content-type', 'content-transfer-encoding', 'dkim-signature', 'received', 'return-path',
]);
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const TAG = /^[\w.:-]{1,128}$/;
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;
/** How far ahead send_at may be. */
const MAX_SCHEDULE_MS = 30 * 24 * 3600 * 1000;

function toAddress(field: string, input: AddressInput): Address {
  if (typeof input === 'string') {
    const mailbox = parseMailbox(field, input);
    return mailbox.name === undefined ? { email: mailbox.address } : { email: mailbox.address, name: mailbox.name };
  }
  const mailbox = parseMailbox(`${field}.email`, input.email);
  if (input.name !== undefined) assertHeaderSafe(`${field}.name`, input.name);
  const name = input.name ?? mailbox.name;
  return name === undefined || name === '' ? { email: mailbox.address } : { email: mailbox.address, name };
}

function toAddresses(field: string, input: AddressInput | AddressInput[] | undefined): Address[] {
  if (input === undefined) return [];
  const list = Array.isArray(input) ? input : [input];
  return list.map((item, i) => toAddress(Array.isArray(input) ? `${field}[${i}]` : field, item));
}

function validHeaders(input: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input ?? {})) {
    if (!HEADER_NAME.test(name)) throw invalid(`headers.${name}`, 'is not a valid header name');
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw invalid(`headers.${name}`, 'is set by Herald; use the matching field instead');
    assertHeaderSafe(`headers.${name}`, value);
    headers[name] = value;
  }
  return headers;
}

function validAttachments(input: EmailInput['attachments']): Attachment[] {
  return (input ?? []).map((item, i) => {
    const field = `attachments[${i}]`;
    assertHeaderSafe(`${field}.filename`, item.filename);
    if (item.filename.trim() === '') throw new HeraldError('invalid_attachment', { field: `${field}.filename`, reason: 'must not be empty' });
    if (!BASE64.test(item.content)) throw new HeraldError('invalid_attachment', { field: `${field}.content`, reason: 'must be base64' });
    if (item.content_type !== undefined) assertHeaderSafe(`${field}.content_type`, item.content_type);
    if (item.content_id !== undefined) assertHeaderSafe(`${field}.content_id`, item.content_id);
    const attachment: Attachment = { filename: item.filename, content: item.content.replace(/\s+/g, '') };
    if (item.content_type !== undefined) attachment.contentType = item.content_type;
    if (item.content_id !== undefined) attachment.contentId = item.content_id;
    if (item.disposition !== undefined) attachment.disposition = item.disposition;
    return attachment;
  });
}

function validSendAt(input: string | undefined, now: Date): Date | null {
  if (input === undefined) return null;
  const at = new Date(input);
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(input)) {
    throw new HeraldError('invalid_send_at', { reason: `"${input}" is not an ISO 8601 date-time` });
  }
  if (at.getTime() - now.getTime() > MAX_SCHEDULE_MS) throw new HeraldError('invalid_send_at', { reason: 'must be at most 30 days ahead' });
  return at.getTime() <= now.getTime() ? null : at;
}

/** Validates every field; throws the first `HeraldError`, naming its field. */
export function validateEmail(input: EmailInput, now: Date, maxRecipients: number): ValidEmail {
  const from = toAddress('from', input.from);
  const to = toAddresses('to', input.to);
  const cc = toAddresses('cc', input.cc);
  const bcc = toAddresses('bcc', input.bcc);
  const count = to.length + cc.length + bcc.length;
  if (count === 0) throw invalid('to', 'at least one recipient (to, cc or bcc) is required');
  if (count > maxRecipients) throw new HeraldError('too_many_recipients', { field: 'to', max: maxRecipients, count });
  const subject = input.subject ?? '';
  assertHeaderSafe('subject', subject);
  if (!input.html && !input.text) throw new HeraldError('missing_content');
  const tags = input.tags ?? [];
  tags.forEach((tag, i) => {
    if (!TAG.test(tag)) throw invalid(`tags[${i}]`, 'must be 1 to 128 letters, digits, _ . : or -');
  });
  const metadata = input.metadata ?? {};
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw invalid(`metadata.${key}`, 'must be a string');
  }
  const email: ValidEmail = {
    from,
    to,
    cc,
    bcc,
    replyTo: toAddresses('reply_to', input.reply_to),
    subject,
    headers: validHeaders(input.headers),
    tags: [...new Set(tags)],
    metadata,
    attachments: validAttachments(input.attachments),
    sendAt: validSendAt(input.send_at, now),
    stream: input.stream ?? 'transactional',
  };
  if (input.html) email.html = input.html;
  if (input.text) email.text = input.text;
  return email;
}
