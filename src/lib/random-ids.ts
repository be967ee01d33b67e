/** The production id source: prefixed, time-ordered, random ids and URL-safe secrets. */
import { randomBytes } from 'node:crypto';
import { ID_PREFIX, type IdKind, type IdSource } from '../core/ids.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
/**
 * Random bytes are drawn 4 KiB at a time: one `randomBytes` call per id cost more than the rest
 * of accepting a batch row. Each byte is still used once.
 */
const POOL_SIZE = 4096;

/**
 * Ids sort by creation time within a process: a base-36 millisecond prefix, then a counter that
 * restarts each millisecond (so ids made in the same millisecond keep their order), then 12
 * random characters (~62 bits) so that ids are unguessable and unique across processes.
 */
export function createIdSource(now: () => number = Date.now): IdSource {
  let lastMs = 0;
  let counter = 0;
  let pool = randomBytes(POOL_SIZE);
  let poolAt = 0;
  const randomPart = (length: number): string => {
    if (poolAt + length > POOL_SIZE) {
      pool = randomBytes(POOL_SIZE);
      poolAt = 0;
    }
    let out = '';
    for (let i = 0; i < length; i++) out += ALPHABET[(pool[poolAt + i] as number) % 36];
    poolAt += length;
    return out;
  };
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
