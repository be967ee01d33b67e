/**
 * The unsubscribe link in the body of broadcast mail, which Gmail and Yahoo require besides the
 * headers: whether a content already shows one, the small footer Herald appends when it does not,
 * and `{{unsubscribe_url}}` standing literally in content that is not rendered per recipient
 * (html/text sent as is, or a `/v1/emails` template rendered at acceptance).
 *
 * A content shows a link when its source uses `{{unsubscribe_url}}` or its html has a link whose
 * text or href contains "unsubscribe"; content without html is judged by its text (the
 * placeholder or the word). The checks run on the sources, once per content, not per recipient.
 * Pure string work.
 */

/** `{{unsubscribe_url}}`, `{{{ unsubscribe_url }}}`, `{{#if unsubscribe_url}}`, `{{@root.unsubscribe_url}}`. */
const PLACEHOLDER = /\{\{[^}]*\bunsubscribe_url\b/;
/** The placeholder as plain content holds it: `{{unsubscribe_url}}` or `{{{unsubscribe_url}}}`, spaces allowed. */
const LITERAL = /\{\{\{?\s*unsubscribe_url\s*\}\}\}?/g;
const LINK = /<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi;
const WORD = /unsubscribe/i;
const BODY_END = /<\/body\s*>/gi;

/** A content's html and text sources. */
export interface BodySources {
  html?: string | undefined;
  text?: string | undefined;
}

/** What the unsubscribe code needs to know of one content, worked out once. */
export interface BodyTraits {
  /** The content gives the reader a visible way to unsubscribe: no footer. */
  showsLink: boolean;
  /** The content holds `{{unsubscribe_url}}` literally (only plain content is filled with `withUnsubscribeUrl`). */
  placeholder: boolean;
}

function htmlShowsLink(html: string): boolean {
  if (PLACEHOLDER.test(html)) return true;
  for (const match of html.matchAll(LINK)) {
    const attributes = match[1] ?? '';
    const label = (match[2] ?? '').replace(/<[^>]*>/g, '');
    if (WORD.test(attributes) || WORD.test(label)) return true;
  }
  return false;
}

/** Whether the content's sources already give the reader a visible way to unsubscribe. */
export function showsUnsubscribeLink(sources: BodySources): boolean {
  if (sources.html !== undefined) return htmlShowsLink(sources.html);
  return sources.text !== undefined && (PLACEHOLDER.test(sources.text) || WORD.test(sources.text));
}

export function bodyTraits(sources: BodySources): BodyTraits {
  const placeholder = [sources.html, sources.text].some((part) => part !== undefined && part.search(LITERAL) >= 0);
  return { showsLink: showsUnsubscribeLink(sources), placeholder };
}

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** The parts with a literal `{{unsubscribe_url}}` replaced by `url` (escaped in html). */
export function withUnsubscribeUrl<T extends BodySources>(parts: T, url: string): T {
  const escaped = escapeHtml(url);
  return {
    ...parts,
    ...(parts.html !== undefined ? { html: parts.html.replace(LITERAL, () => escaped) } : {}),
    ...(parts.text !== undefined ? { text: parts.text.replace(LITERAL, () => url) } : {}),
  };
}

/** `html` with a one-line footer linking to `url`, before `</body>` when there is one. */
export function withHtmlFooter(html: string, url: string): string {
  const footer =
    '<div style="margin:24px 0 0;font:12px/1.5 sans-serif;color:#6b6b6b">' +
    `Don&#39;t want these emails? <a href="${escapeHtml(url)}" style="color:#6b6b6b">Unsubscribe</a></div>`;
  let cut = -1;
  for (const match of html.matchAll(BODY_END)) cut = match.index;
  return cut < 0 ? `${html}\n${footer}\n` : `${html.slice(0, cut)}${footer}\n${html.slice(cut)}`;
}

/** `text` with a footer line giving `url`. */
export function withTextFooter(text: string, url: string): string {
  const separator = text === '' || text.endsWith('\n') ? '\n' : '\n\n';
  return `${text}${separator}Unsubscribe: ${url}\n`;
}
