/**
 * Builds the bytes that leave for one claimed message. Structured content goes through the fast
 * composer, whose per-content skeleton is prepared once and kept in a small LRU cache (a chunk of
 * a batch shares one content, so it is composed from the same skeleton); content with
 * attachments goes through the library composer; raw content relayed over SMTP leaves as it came.
 */
import type { Content } from '../core/types.js';
import { TemplateCache } from '../templates/compile-cache.js';
import { MessageComposer } from '../mime/composer.js';
import { composeWithAttachments } from '../mime/library-composer.js';
import type { ClaimedMessage } from '../store/store.js';
import type { OutgoingMessage } from '../transports/transport.js';

type StructuredContent = Extract<Content, { kind: 'structured' }>;
type TemplateContent = Extract<Content, { kind: 'template' }>;

/** A built message and the domain of its From header, whose keys sign it. */
export interface BuiltMessage {
  outgoing: OutgoingMessage;
  fromDomain: string | null;
}

const FROM_HEADER = /^From:[^\r\n]*?([^\s<@"]+@([^\s>"]+))/im;

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** The From domain of a relayed message, read from its header block. */
function fromDomainOfRaw(raw: string): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const match = FROM_HEADER.exec(end < 0 ? raw : raw.slice(0, end));
  return match?.[2]?.toLowerCase() ?? null;
}

export class MessageBuilder {
  readonly #composers = new Map<string, MessageComposer>();
  readonly #templates = new TemplateCache();
  readonly #capacity: number;

  constructor(options: { cacheSize?: number } = {}) {
    this.#capacity = options.cacheSize ?? 256;
  }

  #composerFor(contentId: string, content: StructuredContent | TemplateContent): MessageComposer {
    let composer = this.#composers.get(contentId);
    if (composer) {
      // Refresh recency: Map iteration order is insertion order.
      this.#composers.delete(contentId);
    } else {
      composer = new MessageComposer({
        from: content.from,
        cc: content.kind === 'structured' ? content.cc : [],
        replyTo: content.replyTo,
        headers: content.headers,
      });
      if (this.#composers.size >= this.#capacity) {
        const oldest = this.#composers.keys().next();
        if (!oldest.done) this.#composers.delete(oldest.value);
      }
    }
    this.#composers.set(contentId, composer);
    return composer;
  }

  /** The message as it will be handed to the transport. Throws when the content cannot be composed. */
  async build(message: ClaimedMessage, now: Date): Promise<BuiltMessage> {
    const content = message.content;
    const out = { id: message.id, sender: message.sender, recipient: message.recipient };
    if (content.kind === 'raw') {
      if (content.encoding === 'base64') return { outgoing: { ...out, raw: Buffer.from(content.raw, 'base64') }, fromDomain: null };
      return { outgoing: { ...out, raw: content.raw }, fromDomain: fromDomainOfRaw(content.raw) };
    }
    const fromDomain = domainOf(content.from.email);
    if (content.kind === 'template') {
      // Compiled once per content revision; rendered here, per recipient, at send time.
      const render = this.#templates.get(`${message.contentId}@${content.revision}`, content);
      const rendered = render({ ...message.variables, email: message.recipient, message_id: message.messageIdHeader });
      const parts = {
        to: [{ email: message.recipient, ...(typeof message.variables?.name === 'string' && message.variables.name !== '' ? { name: message.variables.name } : {}) }],
        subject: rendered.subject,
        messageId: message.messageIdHeader,
        date: now,
        ...(rendered.html !== undefined ? { html: rendered.html } : {}),
        ...(rendered.text !== undefined ? { text: rendered.text } : {}),
      };
      return { outgoing: { ...out, raw: this.#composerFor(message.contentId, content).compose(parts) }, fromDomain };
    }
    const parts = {
      to: content.to.length > 0 ? content.to : [{ email: message.recipient }],
      subject: content.subject,
      messageId: message.messageIdHeader,
      date: now,
      ...(content.html !== undefined ? { html: content.html } : {}),
      ...(content.text !== undefined ? { text: content.text } : {}),
    };
    if (content.attachments.length > 0) {
      const shared = { from: content.from, cc: content.cc, replyTo: content.replyTo, headers: content.headers };
      return { outgoing: { ...out, raw: await composeWithAttachments(shared, parts, content.attachments) }, fromDomain };
    }
    return { outgoing: { ...out, raw: this.#composerFor(message.contentId, content).compose(parts) }, fromDomain };
  }
}
