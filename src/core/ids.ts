/**
 * Identifier formats. Ids are opaque to users but carry a prefix saying what they name, so a
 * pasted id is recognisable in logs and support requests. Generation needs randomness, so core
 * only declares the source; `src/lib/random-ids.ts` implements it.
 */
export const ID_PREFIX = {
  workspace: 'ws',
  apiKey: 'key',
  message: 'msg',
  content: 'cnt',
  event: 'evt',
  batch: 'bat',
  session: 'ses',
  template: 'tpl',
  webhook: 'wh',
  webhookDelivery: 'whd',
  domain: 'dom',
  domainKey: 'dkey',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

/** Makes new ids; passed to everything that creates records, so tests can make them predictable. */
export interface IdSource {
  next(kind: IdKind): string;
  /** A secret of at least 32 random bytes, URL-safe. */
  secret(): string;
}
