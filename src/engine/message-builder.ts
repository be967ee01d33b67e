/**
 * Builds the bytes that leave for one claimed message. Structured content goes through the fast
 * composer, whose per-content skeleton is prepared once and kept in a small LRU cache (a chunk of
 * a batch shares one content, so it is composed from the same skeleton); content with
 * attachments goes through the library composer; raw content relayed over SMTP leaves as it came.
 *
 * Broadcast mail, when unsubscribe links are configured, gets its recipient's RFC 8058
 * `List-Unsubscribe` / `List-Unsubscribe-Post` headers (replacing any of the content's own, so
 * there is exactly one of each), `{{unsubscribe_url}}` filled in its template or plain content,
 * and a footer with the link when its content shows none (tracking/unsubscribe-body.ts).
 * Transactional mail gets none of these. With a bounce domain, every message leaves with its own
 * signed VERP envelope sender (tracking/verp.ts), so every bounce names the message it is about.
 * Content that asks for open/click tracking gets its html links sent through `/t/c/…` and an open
 * pixel, per recipient, after the unsubscribe parts (mime/link-rewriter.ts); DKIM signs the result.
 */
import type { Content } from '../core/types.js';
import { TemplateCache } from '../templates/compile-cache.js';
import { MessageComposer } from '../mime/composer.js';
import { composeWithAttachments } from '../mime/library-composer.js';
import type { ClaimedMessage } from '../store/store.js';
import { bodyTraits, withHtmlFooter, withTextFooter, withUnsubscribeUrl, type BodyTraits } from '../tracking/unsubscribe-body.js';
import { listUnsubscribeHeaders, unsubscribeToken, unsubscribeUrl, type UnsubscribeLinkSettings } from '../tracking/unsubscribe-links.js';
import type { OutgoingMessage } from '../transports/transport.js';
import { bounceAddress } from '../tracking/verp.js';
import { rewriteLinks } from '../mime/link-rewriter.js';
import { clickUrl, openPixelUrl, type TrackingLinkSettings } from '../tracking/tracking-links.js';

type StructuredContent = Extract<Content, { kind: 'structured' }>;
type TemplateContent = Extract<Content, { kind: 'template' }>;

/** A built message and the domain of its From header, whose keys sign it. */
export interface BuiltMessage {
  outgoing: OutgoingMessage;
  fromDomain: string | null;
}

/** A broadcast message's unsubscribe link and what it adds to the message. */
interface UnsubscribeParts {
  url: string;
  headers: Record<string, string>;
  /** Whether the link goes into a footer (the content shows none of its own). */
  footer: boolean;
  /** Whether the content holds `{{unsubscribe_url}}` literally (filled in plain content). */
  placeholder: boolean;
}

export interface MessageBuilderOptions {
  /** Most contents whose composer (and footer decision) is kept; default 256. */
  cacheSize?: number;
  /** Unsubscribe links for broadcast mail; none: broadcast mail leaves without them. */
  unsubscribe?: UnsubscribeLinkSettings | undefined;
  /** VERP: each message's envelope sender becomes `bounces+<token>@<domain>` (`--bounce-domain`); none: the message's own sender. */
  returnPath?: ReturnPathSettings | undefined;
  /** Open/click tracking for contents that ask for it (`--public-url`); none: their html leaves untracked. */
  tracking?: TrackingLinkSettings | undefined;
}

/** What the builder needs to give each message its own signed return path (tracking/verp.ts). */
export interface ReturnPathSettings {
  key: Uint8Array;
  /** The bounce domain, whose MX is Herald's bounce listener. */
  domain: string;
}

/** The body parts with the footer added, when the message gets one. */
function withFooter<T extends { html?: string | undefined; text?: string | undefined }>(parts: T, unsubscribe: UnsubscribeParts | null): T {
  if (unsubscribe === null || !unsubscribe.footer) return parts;
  return {
    ...parts,
    ...(parts.html !== undefined ? { html: withHtmlFooter(parts.html, unsubscribe.url) } : {}),
    ...(parts.text !== undefined ? { text: withTextFooter(parts.text, unsubscribe.url) } : {}),
  };
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
  /** Per content (and template revision): what its sources hold of unsubscribe links. */
  readonly #bodyTraits = new Map<string, BodyTraits>();
  readonly #capacity: number;
  readonly #unsubscribe: UnsubscribeLinkSettings | null;
  readonly #returnPath: ReturnPathSettings | null;
  readonly #tracking: TrackingLinkSettings | null;

  constructor(options: MessageBuilderOptions = {}) {
    this.#capacity = options.cacheSize ?? 256;
    this.#unsubscribe = options.unsubscribe ?? null;
    this.#returnPath = options.returnPath ?? null;
    this.#tracking = options.tracking ?? null;
  }

  /**
   * The envelope sender (MAIL FROM): the message's VERP address when a bounce domain is set, so
   * every bounce names its message; a null sender (`<>`, relayed auto-replies) stays null.
   */
  #envelopeSender(message: ClaimedMessage): string {
    const returnPath = this.#returnPath;
    if (returnPath === null || message.sender === '') return message.sender;
    return bounceAddress(returnPath.key, 'verp', message.id, returnPath.domain) ?? message.sender;
  }

  /**
   * The html with its links sent through `/t/c/…` and the open pixel added, as the content's
   * `tracking` asks, once the unsubscribe link and footer are in (they are left untracked).
   */
  #tracked(message: ClaimedMessage, content: StructuredContent | TemplateContent, html: string): string {
    const settings = this.#tracking;
    const wanted = content.tracking;
    if (settings === null || wanted === undefined || (!wanted.opens && !wanted.clicks)) return html;
    const subject = { workspaceId: message.workspaceId, messageId: message.id };
    const base = settings.baseUrl.replace(/\/+$/, '');
    const skipPrefixes = [`${base}/u/`, `${base}/t/`];
    if (this.#unsubscribe !== null) skipPrefixes.push(`${this.#unsubscribe.baseUrl().replace(/\/+$/, '')}/u/`);
    return rewriteLinks(html, {
      link: wanted.clicks ? (url) => clickUrl(settings, subject, url) : null,
      pixel: wanted.opens ? openPixelUrl(settings, subject) : null,
      skipPrefixes,
    }).html;
  }

  #traitsOf(key: string, content: StructuredContent | TemplateContent): BodyTraits {
    let traits = this.#bodyTraits.get(key);
    if (traits === undefined) {
      traits = bodyTraits(content);
      if (this.#bodyTraits.size >= this.#capacity) {
        const oldest = this.#bodyTraits.keys().next();
        if (!oldest.done) this.#bodyTraits.delete(oldest.value);
      }
      this.#bodyTraits.set(key, traits);
    }
    return traits;
  }

  /** The message's unsubscribe link and headers: broadcast mail only, when configured. */
  #unsubscribeFor(message: ClaimedMessage, content: StructuredContent | TemplateContent, contentKey: string): UnsubscribeParts | null {
    const settings = this.#unsubscribe;
    if (settings === null || message.stream !== 'broadcast') return null;
    const token = unsubscribeToken(settings.key, {
      workspaceId: message.workspaceId,
      messageId: message.id,
      recipient: message.recipient,
      stream: message.stream,
    });
    const url = unsubscribeUrl(settings.baseUrl(), token);
    // The mailto address lives at the bounce domain, whose listener turns mail to it into an unsubscribe.
    const mailto = settings.mailtoDomain === undefined ? null : bounceAddress(settings.key, 'unsubscribe', message.id, settings.mailtoDomain);
    const traits = this.#traitsOf(contentKey, content);
    return { url, headers: listUnsubscribeHeaders(url, mailto), footer: settings.footer && !traits.showsLink, placeholder: traits.placeholder };
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
    const out = { id: message.id, sender: this.#envelopeSender(message), recipient: message.recipient };
    if (content.kind === 'raw') {
      if (content.encoding === 'base64') return { outgoing: { ...out, raw: Buffer.from(content.raw, 'base64') }, fromDomain: null };
      return { outgoing: { ...out, raw: content.raw }, fromDomain: fromDomainOfRaw(content.raw) };
    }
    const fromDomain = domainOf(content.from.email);
    if (content.kind === 'template') {
      // Compiled once per content revision; rendered here, per recipient, at send time.
      const revisionKey = `${message.contentId}@${content.revision}`;
      const render = this.#templates.get(revisionKey, content);
      const unsubscribe = this.#unsubscribeFor(message, content, revisionKey);
      const rendered = withFooter(
        render({
          ...message.variables,
          email: message.recipient,
          message_id: message.messageIdHeader,
          ...(unsubscribe !== null ? { unsubscribe_url: unsubscribe.url } : {}),
        }),
        unsubscribe,
      );
      const parts = {
        to: [{ email: message.recipient, ...(typeof message.variables?.name === 'string' && message.variables.name !== '' ? { name: message.variables.name } : {}) }],
        subject: rendered.subject,
        messageId: message.messageIdHeader,
        date: now,
        ...(rendered.html !== undefined ? { html: this.#tracked(message, content, rendered.html) } : {}),
        ...(rendered.text !== undefined ? { text: rendered.text } : {}),
        ...(unsubscribe !== null ? { headers: unsubscribe.headers } : {}),
      };
      return { outgoing: { ...out, raw: this.#composerFor(message.contentId, content).compose(parts) }, fromDomain };
    }
    const unsubscribe = this.#unsubscribeFor(message, content, message.contentId);
    // Plain content is not a template: a `{{unsubscribe_url}}` it holds is filled here.
    const body = unsubscribe?.placeholder ? withUnsubscribeUrl(content, unsubscribe.url) : content;
    const parts = withFooter(
      {
        to: content.to.length > 0 ? content.to : [{ email: message.recipient }],
        subject: content.subject,
        messageId: message.messageIdHeader,
        date: now,
        ...(body.html !== undefined ? { html: body.html } : {}),
        ...(body.text !== undefined ? { text: body.text } : {}),
        ...(unsubscribe !== null ? { headers: unsubscribe.headers } : {}),
      },
      unsubscribe,
    );
    if (parts.html !== undefined) parts.html = this.#tracked(message, content, parts.html);
    if (content.attachments.length > 0) {
      const shared = { from: content.from, cc: content.cc, replyTo: content.replyTo, headers: content.headers };
      return { outgoing: { ...out, raw: await composeWithAttachments(shared, parts, content.attachments) }, fromDomain };
    }
    return { outgoing: { ...out, raw: this.#composerFor(message.contentId, content).compose(parts) }, fromDomain };
  }
}
