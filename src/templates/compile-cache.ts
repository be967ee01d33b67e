/**
 * Compiled templates, kept per (template id, version) so that each version is compiled once per
 * process however many recipients or previews render it. Versions never change once written,
 * so an entry never goes stale; the bound (least recently used out first) only keeps a
 * long-running worker's memory flat across many templates.
 *
 * Knows nothing of the store: callers pass the parts they already loaded.
 */
import type { TemplateParts } from './lint.js';
import { compileParts, type RenderFn } from './render.js';

export type { RenderFn } from './render.js';

/** The cache key of one template version. */
export function templateCacheKey(templateId: string, version: number): string {
  return `${templateId}@${version}`;
}

export class TemplateCache {
  readonly #entries = new Map<string, RenderFn>();
  readonly #capacity: number;

  /** @param capacity Most compiled versions kept; at least 1. */
  constructor(capacity = 500) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  /**
   * The render function for `key`, compiling `parts` only when the key is not cached.
   *
   * @example
   * const render = cache.get(templateCacheKey(version.templateId, version.version), parts);
   * const { subject, html, text } = render({ name: 'Ann' });
   */
  get(key: string, parts: TemplateParts): RenderFn {
    let render = this.#entries.get(key);
    if (render) {
      // Re-inserting moves the key to the young end of the Map's insertion order.
      this.#entries.delete(key);
    } else {
      render = compileParts(parts);
      if (this.#entries.size >= this.#capacity) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
    }
    this.#entries.set(key, render);
    return render;
  }

  /** How many compiled versions are held. */
  get size(): number {
    return this.#entries.size;
  }
}
