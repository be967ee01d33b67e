import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonStreamError, readJsonObject, type JsonStreamItem } from '../../src/lib/json-stream.js';

async function* chunked(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function read(text: string, size = 7): Promise<JsonStreamItem[]> {
  const out: JsonStreamItem[] = [];
  for await (const item of readJsonObject(chunked(text, size), { streamKey: 'recipients' })) out.push(item);
  return out;
}

describe('streamed JSON object reader', () => {
  it('gives members and the streamed array elements in order, across any chunking', async () => {
    const body = { from: 'a@x.org', subject: 'Hi {{name}}', recipients: [{ email: 'b@x.org', variables: { n: [1, { d: '}]' }] } }, 'c@x.org'], tags: ['t'] };
    for (const size of [1, 2, 5, 64, 4096]) {
      const items = await read(JSON.stringify(body), size);
      expect(items).toEqual([
        { kind: 'member', key: 'from', value: 'a@x.org' },
        { kind: 'member', key: 'subject', value: 'Hi {{name}}' },
        { kind: 'element', key: 'recipients', index: 0, value: body.recipients[0] },
        { kind: 'element', key: 'recipients', index: 1, value: 'c@x.org' },
        { kind: 'member', key: 'tags', value: ['t'] },
      ]);
    }
  });

  it('handles escapes, unicode split across chunks, whitespace and an empty array', async () => {
    const text = ' { "a\\"b" : "é😀\\u00e9" , "recipients" : [ ] } ';
    expect(await read(text, 1)).toEqual([{ kind: 'member', key: 'a"b', value: 'é😀é' }]);
  });

  it('matches JSON.parse on random objects', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.jsonValue(), { maxLength: 20 }), fc.integer({ min: 1, max: 50 }), async (members, recipients, size) => {
        const body = { ...members, recipients };
        const items = await read(JSON.stringify(body), size);
        // Entries, not assignment: a member named "__proto__" must stay a member (as JSON.parse keeps it).
        const entries: [string, unknown][] = [];
        const elements: unknown[] = [];
        for (const item of items) {
          if (item.kind === 'member') entries.push([item.key, item.value]);
          else elements.push(item.value);
        }
        expect(elements).toEqual(JSON.parse(JSON.stringify(recipients)));
        expect(Object.fromEntries([...entries, ['recipients', elements]])).toEqual(JSON.parse(JSON.stringify(body)));
      }),
      { numRuns: 300 },
    );
  });

  it('names where a malformed body breaks', async () => {
    await expect(read('[1,2]')).rejects.toThrow(/must be a JSON object/);
    await expect(read('{"recipients": [{"email": "a"},]}')).rejects.toBeInstanceOf(JsonStreamError);
    await expect(read('{"from": "a", "recipients": [1, 2')).rejects.toThrow(/ended before/);
    await expect(read('{"recipients": "x"}')).rejects.toThrow(/must be an array/);
    await expect(read('{"a": 1} trailing')).rejects.toThrow(/after the object/);
  });

  it('refuses an element over the size limit instead of buffering it', async () => {
    const big = JSON.stringify({ recipients: [{ email: 'x'.repeat(2000) }] });
    const items = readJsonObject(chunked(big, 100), { streamKey: 'recipients', maxValueLength: 1000 });
    await expect((async () => { for await (const _ of items) { /* drain */ } })()).rejects.toThrow(/recipients\[0\] is longer than 1000/);
  });
});
