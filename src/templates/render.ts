/**
 * Compiles template parts once and renders them per recipient. HTML is escaped as HTML; the
 * subject and the text part are not (an `&` in a name must stay an `&`). Compiled templates are
 * cached by a caller-chosen key (template id and version), bounded so that a long-running worker
 * does not grow without end.
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
export class TemplateCache {
  readonly #entries = new Map<string, RenderFn>();
  constructor(private readonly capacity = 500) {}

  get(key: string, parts: () => TemplateParts): RenderFn {
    let fn = this.#entries.get(key);
    if (fn) {
      this.#entries.delete(key);
    } else {
      fn = compileParts(parts());
      if (this.#entries.size >= this.capacity) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    this.#entries.set(key, fn);
    return fn;
  }
}
