/**
 * Compiles template parts once and renders them per recipient. HTML is escaped as HTML; the
 * subject and the text part are not (an `&` in a name must stay an `&`). Caching compiled versions is
 * `compile-cache.ts`'s job.
 */
import Handlebars from 'handlebars';
import type { TemplateParts } from './lint.js';

export interface RenderedParts {
  subject: string;
  html?: string;
  text?: string;
}

export type RenderFn = (variables: Record<string, unknown>) => RenderedParts;

const env = Handlebars.create();

export function compileParts(parts: TemplateParts): RenderFn {
  const subject = env.compile(parts.subject, { noEscape: true });
  const html = parts.html !== undefined ? env.compile(parts.html) : null;
  const text = parts.text !== undefined ? env.compile(parts.text, { noEscape: true }) : null;
  return (variables) => {
    const out: RenderedParts = { subject: subject(variables).replace(/[\r\n]+/g, ' ') };
    if (html) out.html = html(variables);
    if (text) out.text = text(variables);
    return out;
  };
}

/** A bounded cache of compiled templates (least recently used out first). */
