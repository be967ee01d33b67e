import { describe, expect, it } from 'vitest';
import { NdjsonError, readNdjson } from '../../src/lib/ndjson.js';

async function values(chunks: (string | Buffer)[], maxLineLength?: number) {
  const out: unknown[] = [];
  for await (const item of readNdjson((async function* () { yield* chunks; })(), maxLineLength ? { maxLineLength } : {})) out.push(item);
  return out;
}

describe('streaming NDJSON', () => {
  it('reads one value per line across chunk boundaries, skipping blank lines', async () => {
    expect(await values(['{"a":', '1}\n\n{"b":"ü"}\r\n', '{"c":3}'])).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, value: { b: 'ü' } },
      { line: 4, value: { c: 3 } },
    ]);
  });
  it('names the line that is not JSON', async () => {
    await expect(values(['{"a":1}\n{oops}\n'])).rejects.toBeInstanceOf(NdjsonError);
    await expect(values(['{"a":1}\n{oops}\n'])).rejects.toThrow(/^line 2: not valid JSON/);
  });
  it('refuses a line longer than the limit instead of buffering it', async () => {
    await expect(values(['{"a":"' + 'x'.repeat(100), 'more'], 50)).rejects.toThrow(/line 1: longer than 50/);
  });
});
