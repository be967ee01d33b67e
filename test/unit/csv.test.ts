import { describe, expect, it } from 'vitest';
import { CsvError, readCsv, type CsvRow } from '../../src/lib/csv.js';

async function rows(input: string | Buffer | (string | Buffer)[]): Promise<CsvRow[]> {
  const chunks = Array.isArray(input) ? input : [input];
  const out: CsvRow[] = [];
  for await (const row of readCsv((async function* () { yield* chunks; })())) out.push(row);
  return out;
}

async function failure(input: string | Buffer | (string | Buffer)[]): Promise<CsvError> {
  try {
    await rows(input);
  } catch (error) {
    if (error instanceof CsvError) return error;
    throw error;
  }
  throw new Error('expected a CsvError');
}

describe('streaming CSV', () => {
  it('reads quoted fields with delimiters, escaped quotes and line breaks', async () => {
    const out = await rows('email,name,note\r\na@x.org,"Doe, Jane","said ""hi""\nthen left"\r\nb@x.org,Bob,\r\n');
    expect(out).toEqual([
      { row: 1, fields: ['email', 'name', 'note'] },
      { row: 2, fields: ['a@x.org', 'Doe, Jane', 'said "hi"\nthen left'] },
      { row: 4, fields: ['b@x.org', 'Bob', ''] },
    ]);
  });

  it('gives the same rows whatever the chunk boundaries, even inside an escaped quote', async () => {
    const text = 'email;city\nx@y.org;"Sa""int; Malo"\n';
    const whole = await rows(text);
    for (let cut = 1; cut < text.length; cut++) expect(await rows([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
  });

  it('detects semicolons and tabs from the header', async () => {
    expect((await rows('email;name\na@x.org;A\n'))[1]?.fields).toEqual(['a@x.org', 'A']);
    expect((await rows('email\tname\na@x.org\tA'))[1]?.fields).toEqual(['a@x.org', 'A']);
  });

  it('strips a UTF-8 byte order mark and keeps non-ASCII text', async () => {
    const out = await rows(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('email,name\nü@x.org,Zoë\n')]));
    expect(out[0]?.fields).toEqual(['email', 'name']);
    expect(out[1]?.fields).toEqual(['ü@x.org', 'Zoë']);
  });

  it('names the row of bytes that are not UTF-8 (a Latin-1 export)', async () => {
    const error = await failure(Buffer.from('email,name\na@x.org,Zo\xeb\n', 'latin1'));
    expect(error.row).toBe(2);
    expect(error.reason).toMatch(/not UTF-8/);
  });

  it('names a ragged row', async () => {
    const error = await failure('email,name\na@x.org,A\nb@x.org\n');
    expect(error.message).toBe('row 3: has 1 fields, the header has 2');
  });

  it('names an unterminated quote and a stray one', async () => {
    expect((await failure('email,name\na@x.org,"open\n')).message).toBe('row 2: a quoted field is never closed');
    expect((await failure('email,name\na@x.org,ab"c\n')).reason).toMatch(/quote appears inside/);
    expect((await failure('email,name\na@x.org,"ab"c\n')).reason).toMatch(/text follows a closing quote/);
  });

  it('skips blank lines and reads a last row without a newline', async () => {
    expect((await rows('email\n\na@x.org\n\nb@x.org')).map((r) => r.fields[0])).toEqual(['email', 'a@x.org', 'b@x.org']);
  });
});
