/**
 * Open and click tracking in an html body: one left-to-right pass over the markup that finds each
 * `<a …>` start tag, reads its attributes (quoted or not, `>` inside quotes allowed), and replaces
 * the `href` of a trackable link by the URL `options.link` gives for it; then the open pixel goes
 * before the last `</body>` (or at the end). No DOM parser: the rest of the bytes are copied as
 * they are, so what the author wrote (MSO conditional comments included) survives untouched.
 *
 * Left alone: links that are not absolute http(s) URLs (mailto:, tel:, `#anchors`, relative or
 * templated hrefs), links carrying `data-herald-notrack`, unsubscribe links (an href under one of
 * `skipPrefixes` or containing the word "unsubscribe": mailbox providers look for those in the
 * body and a redirect in front of them helps no one) and URLs too long to sign.
 *
 * Pure string work; knows nothing of tokens (the caller's `link` function signs).
 */
import { isTrackableUrl } from '../tracking/tracking-links.js';

export interface RewriteOptions {
  /** The tracked URL replacing a link to `url`; null: links are not rewritten. */
  link: ((url: string, index: number) => string) | null;
  /** The open pixel's URL; null: no pixel. */
  pixel: string | null;
  /** hrefs starting with one of these stay as they are (the unsubscribe and tracking endpoints). */
  skipPrefixes: readonly string[];
}

/** What a pass found and did, for tests and logs. */
export interface RewriteResult {
  html: string;
  /** Links rewritten. */
  rewritten: number;
}

/** The attribute that keeps a link untracked: `<a href="…" data-herald-notrack>`. */
export const NOTRACK_ATTRIBUTE = 'data-herald-notrack';

const UNSUBSCRIBE = /unsubscribe/i;
const ENTITY = /&(#\d{1,7}|#x[0-9a-f]{1,6}|amp|quot|apos|lt|gt);?/gi;
const NAMED: Readonly<Record<string, string>> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>' };

/** An attribute value as the browser reads it: the few entities a URL may hold, decoded. */
function decodeAttribute(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(ENTITY, (whole, name: string) => {
    const lower = name.toLowerCase();
    const named = NAMED[lower];
    if (named !== undefined) return named;
    const code = lower.startsWith('#x') ? Number.parseInt(lower.slice(2), 16) : Number.parseInt(lower.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13 || code === 12;
}

interface AnchorTag {
  /** Index just past the tag's `>` (or the end of the input). */
  end: number;
  /** The href value's bounds in the input, and whether it was quoted. */
  href: { start: number; end: number; quoted: boolean } | null;
  notrack: boolean;
}

/** Reads the attributes of a start tag whose name ends just before `from`. */
function readTag(html: string, from: number): AnchorTag {
  const length = html.length;
  let i = from;
  let href: AnchorTag['href'] = null;
  let notrack = false;
  while (i < length) {
    let code = html.charCodeAt(i);
    if (isSpace(code) || code === 47 /* / */) {
      i += 1;
      continue;
    }
    if (code === 62 /* > */) return { end: i + 1, href, notrack };
    const nameStart = i;
    while (i < length) {
      code = html.charCodeAt(i);
      if (isSpace(code) || code === 61 /* = */ || code === 62 || code === 47) break;
      i += 1;
    }
    const name = html.slice(nameStart, i).toLowerCase();
    while (i < length && isSpace(html.charCodeAt(i))) i += 1;
    if (html.charCodeAt(i) !== 61) {
      if (name === NOTRACK_ATTRIBUTE) notrack = true;
      continue;
    }
    i += 1;
    while (i < length && isSpace(html.charCodeAt(i))) i += 1;
    const quote = html.charCodeAt(i);
    let valueStart: number;
    let valueEnd: number;
    if (quote === 34 || quote === 39) {
      valueStart = i + 1;
      const close = html.indexOf(quote === 34 ? '"' : "'", valueStart);
      valueEnd = close < 0 ? length : close;
      i = close < 0 ? length : close + 1;
    } else {
      valueStart = i;
      while (i < length && !isSpace(html.charCodeAt(i)) && html.charCodeAt(i) !== 62) i += 1;
      valueEnd = i;
    }
    if (name === 'href' && href === null) href = { start: valueStart, end: valueEnd, quoted: quote === 34 || quote === 39 };
    else if (name === NOTRACK_ATTRIBUTE) notrack = true;
  }
  return { end: length, href, notrack };
}

/** Index of the last `</body` (any case), or -1. */
function lastBodyEnd(html: string): number {
  let at = html.lastIndexOf('</');
  while (at >= 0) {
    if (html.slice(at + 2, at + 6).toLowerCase() === 'body') return at;
    at = at === 0 ? -1 : html.lastIndexOf('</', at - 1);
  }
  return -1;
}

/** The open pixel's markup. */
export function pixelTag(url: string): string {
  return `<img src="${escapeAttribute(url)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" />`;
}

/**
 * `html` with its trackable links pointing at `options.link(url)` and the pixel added.
 *
 * @example
 * rewriteLinks('<a href="https://x.org/?a=1&amp;b=2">x</a>', { link: (u) => `https://t/${encodeURIComponent(u)}`, pixel: null, skipPrefixes: [] });
 * // { html: '<a href="https://t/https%3A%2F%2Fx.org%2F%3Fa%3D1%26b%3D2">x</a>', rewritten: 1 }
 */
export function rewriteLinks(html: string, options: RewriteOptions): RewriteResult {
  let out = '';
  let copied = 0;
  let rewritten = 0;
  if (options.link !== null) {
    let i = html.indexOf('<');
    while (i >= 0 && i < html.length - 2) {
      const c1 = html.charCodeAt(i + 1);
      const c2 = html.charCodeAt(i + 2);
      if ((c1 === 97 || c1 === 65) && (isSpace(c2) || c2 === 62 || c2 === 47)) {
        const tag = readTag(html, i + 2);
        const href = tag.href;
        if (href !== null && !tag.notrack) {
          const url = decodeAttribute(html.slice(href.start, href.end)).trim();
          if (isTrackableUrl(url) && !UNSUBSCRIBE.test(url) && !options.skipPrefixes.some((prefix) => url.startsWith(prefix))) {
            const replacement = escapeAttribute(options.link(url, rewritten));
            out += html.slice(copied, href.start) + (href.quoted ? replacement : `"${replacement}"`);
            copied = href.end;
            rewritten += 1;
          }
        }
        i = html.indexOf('<', tag.end);
      } else {
        i = html.indexOf('<', i + 1);
      }
    }
  }
  out += html.slice(copied);
  if (options.pixel !== null) {
    const pixel = pixelTag(options.pixel);
    const cut = lastBodyEnd(out);
    out = cut < 0 ? `${out}${pixel}` : `${out.slice(0, cut)}${pixel}${out.slice(cut)}`;
  }
  return { html: out, rewritten };
}
