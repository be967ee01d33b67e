/** The production id source: prefixed, time-ordered, random ids and URL-safe secrets. */
import { randomBytes } from 'node:crypto';
import { ID_PREFIX, type IdKind, type IdSource } from '../core/ids.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

function randomPart(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 36];
  return out;
}

/**
 * Ids sort by creation time within a process: a base-36 millisecond prefix, then a counter that
 * restarts each millisecond (so ids made in the same millisecond keep their order), then 12
 * random characters (~62 bits) so that ids are unguessable and unique across processes.
 */
export function createIdSource(now: () => number = Date.now): IdSource {
  let lastMs = 0;
  let counter = 0;
  return {
    next(kind: IdKind): string {
      let ms = now();
      if (ms <= lastMs) {
        ms = lastMs;
        counter += 1;
      } else {
        lastMs = ms;
        counter = 0;
      }
      return `${ID_PREFIX[kind]}_${ms.toString(36).padStart(9, '0')}${counter.toString(36).padStart(4, '0')}${randomPart(12)}`;
    },
    secret(): string {
      return randomBytes(32).toString('base64url');
    },
  };
}
