/**
 * The outcome writer's chunks: committed together, retried while the store fails, and — when one
 * record is refused for what it holds — written one by one so the rest are not held up forever
 * (which, with the engine's backpressure, would stop the worker claiming anything).
 */
import { describe, expect, it } from 'vitest';
import { OutcomeWriter } from '../../src/engine/outcome-writer.js';
import { createLogger } from '../../src/lib/logger.js';
import type { AttemptRecord, Store } from '../../src/store/store.js';

function record(messageId: string): AttemptRecord {
  return { messageId, owner: 'w', status: 'sent', attempts: 1, dueAt: new Date().toISOString(), lastReply: '250 ok', bounceClass: null, now: new Date().toISOString(), event: null } as unknown as AttemptRecord;
}

describe('OutcomeWriter', () => {
  it('writes the rest of a chunk one by one when one record is refused, and drops only that one', async () => {
    const written: string[] = [];
    const store = {
      recordAttempts: async (records: AttemptRecord[]) => {
        if (records.some((r) => r.messageId === 'bad')) throw Object.assign(new Error('invalid byte sequence'), { code: '22021' });
        written.push(...records.map((r) => r.messageId));
        return records.length;
      },
    } as unknown as Store;
    const writer = new OutcomeWriter(store, createLogger('silent'), { chunk: 3, maxDelayMs: 1 });
    for (const id of ['a', 'bad', 'c']) writer.add(record(id));
    await writer.flush();
    expect(written.sort()).toEqual(['a', 'c']);
    expect(writer.pending).toBe(0);
  }, 20_000);

  it('keeps the whole chunk while the store is away, and writes it when it is back', async () => {
    let away = 5;
    const written: string[] = [];
    const store = {
      recordAttempts: async (records: AttemptRecord[]) => {
        if (away-- > 0) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        written.push(...records.map((r) => r.messageId));
        return records.length;
      },
    } as unknown as Store;
    const writer = new OutcomeWriter(store, createLogger('silent'), { chunk: 2, maxDelayMs: 1 });
    writer.add(record('x'));
    writer.add(record('y'));
    await writer.flush();
    expect(written.sort()).toEqual(['x', 'y']);
    expect(writer.pending).toBe(0);
  }, 30_000);
});
