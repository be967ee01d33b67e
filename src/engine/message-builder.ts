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
 * signed VERP envelope sender (tracking/verp.ts), so every bounce names the message it is about;
 * mail from a verified sending domain of its workspace gets it at that domain's return-path host
 * `bounces.<domain>` (and its unsubscribe mailto there), so SPF aligns with the From domain.
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
import { bounceAddress, type ReturnPathDomains } from '../tracking/verp.js';
import { rewriteLinks } from '../mime/link-rewriter.js';
import { headerBlock, readFromHeader } from '../mime/from-header.js';
import { clickUrl, openPixelUrl, type TrackingLinkSettings } from '../tracking/tracking-links.js';

type StructuredContent = Extract<Content, { kind: 'structured' }>;
type TemplateContent = Extract<Content, { kind: 'template' }>;

/** A built message and the domain of its From header, whose keys sign it (relayed mail: the domain acceptance approved). */
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
  /** VERP: each message's envelope sender becomes `bounces+<token>@<domain>` (see ReturnPathSettings); none: the message's own sender. */
  returnPath?: ReturnPathSettings | undefined;
  /** Open/click tracking for contents that ask for it (`--public-url`); none: their html leaves untracked. */
  tracking?: TrackingLinkSettings | undefined;
}

/** What the builder needs to give each message its own signed return path (tracking/verp.ts). */
export interface ReturnPathSettings {
  key: Uint8Array;
  /** The bounce domain (`--bounce-domain`), whose MX is Herald's bounce listener; none: such mail keeps its own sender. */
  domain?: string | undefined;
  /**
   * The verified sending domains: mail whose From domain is one of its workspace's leaves from
   * `bounces+<token>@bounces.<from domain>` instead, SPF-aligned with the From domain.
   */
  domains?: ReturnPathDomains | null | undefined;
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

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * The From domain of a relayed message: the one acceptance approved and kept with the content, or,
 * for content accepted before it was kept, read again with acceptance's own reader.
 */
function fromDomainOfRaw(content: Extract<Content, { kind: 'raw' }>): string | null {
  if (content.fromDomain !== undefined) return content.fromDomain;
  if (content.encoding === 'base64') return null;
  const from = readFromHeader(headerBlock(content.raw));
  return from.kind === 'mailbox' ? from.domain : null;
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
   * The envelope sender (MAIL FROM): the message's VERP address at its From domain's return-path
   * host when that is a verified sending domain of its workspace, else at the bounce domain when
   * one is set, so every bounce names its message; a null sender (`<>`, relayed auto-replies)
   * stays null.
   */
  #envelopeSender(message: ClaimedMessage, fromDomain: string | null): string {
    const returnPath = this.#returnPath;
    if (returnPath === null || message.sender === '') return message.sender;
    const domain = this.#alignedReturnPath(message, fromDomain) ?? returnPath.domain;
    return (domain === undefined ? null : bounceAddress(returnPath.key, 'verp', message.id, domain)) ?? message.sender;
  }

  /** `bounces.<from domain>` when the From domain is a verified sending domain of the message's workspace. */
  #alignedReturnPath(message: ClaimedMessage, fromDomain: string | null): string | null {
    const domains = this.#returnPath?.domains;
    if (fromDomain === null || domains === undefined || domains === null) return null;
    return domains.returnPathDomainFor(fromDomain, message.workspaceId);
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
    // The mailto address lives at the bounce domain (or the From domain's return-path host), whose listener turns mail to it into an unsubscribe.
    const mailtoDomain = this.#alignedReturnPath(message, domainOf(content.from.email)) ?? settings.mailtoDomain;
    const mailto = mailtoDomain === undefined ? null : bounceAddress(settings.key, 'unsubscribe', message.id, mailtoDomain);
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
    const built = await this.#compose(message, now);
    // The return path depends on the From domain, known once the message is composed.
    return { ...built, outgoing: { ...built.outgoing, sender: this.#envelopeSender(message, built.fromDomain) } };
  }

  async #compose(message: ClaimedMessage, now: Date): Promise<BuiltMessage> {
    const content = message.content;
    const out = { id: message.id, sender: message.sender, recipient: message.recipient };
    if (content.kind === 'raw') {
      if (content.encoding === 'base64') return { outgoing: { ...out, raw: Buffer.from(content.raw, 'base64') }, fromDomain: fromDomainOfRaw(content) };
      return { outgoing: { ...out, raw: content.raw }, fromDomain: fromDomainOfRaw(content) };
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
