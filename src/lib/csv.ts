/**
 * A streaming RFC 4180 CSV reader: bytes in, rows out, memory bounded by one row. It strips a
 * UTF-8 BOM, refuses bytes that are not UTF-8 (naming the row), detects the delimiter (comma,
 * semicolon or tab) from the header line, handles quoted fields with embedded delimiters, quotes
 * and line breaks, and reports ragged rows and stray or unterminated quotes with their row.
 */
export class CsvError extends Error {
  constructor(
    readonly row: number,
    readonly reason: string,
  ) {
    super(`row ${row}: ${reason}`);
    this.name = 'CsvError';
  }
}

export interface CsvRow {
  /** 1-based line number where the row starts (the header is row 1). */
  row: number;
  fields: string[];
}

export interface CsvOptions {
  /** Longest field accepted, in characters. */
  maxFieldLength?: number;
}

const CANDIDATES = [',', ';', '\t'];

/** The candidate delimiter that splits the header line into the most fields. */
export function sniffDelimiter(headerLine: string): string {
  let best = ',';
  let bestCount = 0;
  for (const candidate of CANDIDATES) {
    let count = 0;
    let quoted = false;
    for (const ch of headerLine) {
      if (ch === '"') quoted = !quoted;
      else if (ch === candidate && !quoted) count += 1;
    }
    if (count > bestCount) {
      best = candidate;
      bestCount = count;
    }
  }
  return best;
}

/** The parser's position: outside quotes, inside them, or just after a quote inside them. */
type State = 'field' | 'quoted' | 'quote-in-quoted' | 'after-quoted';

class CsvParser {
  state: State = 'field';
  line = 1;
  rowStart = 1;
  field = '';
  fields: string[] = [];
  expected: number | null = null;
  readonly rows: CsvRow[] = [];

  constructor(
    readonly delimiter: string,
    readonly maxField: number,
  ) {}

  #endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.state = 'field';
  }

  #endRow(): void {
    this.#endField();
    const fields = this.fields;
    this.fields = [];
    const row = this.rowStart;
    this.line += 1;
    this.rowStart = this.line;
    if (fields.length === 1 && fields[0] === '') return; // blank line
    if (this.expected === null) this.expected = fields.length;
    else if (fields.length !== this.expected) throw new CsvError(row, `has ${fields.length} fields, the header has ${this.expected}`);
    this.rows.push({ row, fields });
  }

  feed(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i] as string;
      switch (this.state) {
        case 'quoted':
          if (ch === '"') this.state = 'quote-in-quoted';
          else {
            if (ch === '\n') this.line += 1;
            this.field += ch;
          }
          break;
        case 'quote-in-quoted':
          if (ch === '"') {
            this.field += '"';
            this.state = 'quoted';
            break;
          }
          this.state = 'after-quoted';
          i -= 1; // the quote closed the field; read this character again as what follows it
          break;
        case 'after-quoted':
          if (ch === this.delimiter) this.#endField();
          else if (ch === '\n') this.#endRow();
          else if (ch !== '\r') throw new CsvError(this.line, 'text follows a closing quote');
          break;
        case 'field':
          if (ch === this.delimiter) this.#endField();
          else if (ch === '\n') {
            if (this.field.endsWith('\r')) this.field = this.field.slice(0, -1);
            this.#endRow();
          } else if (ch === '"') {
            if (this.field !== '') throw new CsvError(this.line, 'a quote appears inside an unquoted field');
            this.state = 'quoted';
          } else this.field += ch;
          break;
      }
      if (this.field.length > this.maxField) throw new CsvError(this.rowStart, `a field is longer than ${this.maxField} characters`);
    }
  }

  end(): void {
    if (this.state === 'quoted') throw new CsvError(this.rowStart, 'a quoted field is never closed');
    if (this.field.endsWith('\r')) this.field = this.field.slice(0, -1);
    if (this.field !== '' || this.fields.length > 0 || this.state !== 'field') this.#endRow();
  }
}

/** Reads CSV rows from a stream of byte (or text) chunks. */
export async function* readCsv(chunks: AsyncIterable<Buffer | string>, options: CsvOptions = {}): AsyncGenerator<CsvRow> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const maxField = options.maxFieldLength ?? 100_000;
  const reader: { parser: CsvParser | null; head: string } = { parser: null, head: '' };
  const decode = (chunk: Buffer | string | undefined): string => {
    if (typeof chunk === 'string') return chunk;
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      // Name the line of the first bad byte: decode this chunk lossily and count lines before it.
      const lossy = chunk === undefined ? '' : new TextDecoder('utf-8').decode(chunk);
      const before = lossy.slice(0, Math.max(0, lossy.indexOf('\uFFFD')));
      const linesSoFar = reader.parser ? reader.parser.line : 1 + (reader.head.match(/\n/g)?.length ?? 0);
      throw new CsvError(linesSoFar + (before.match(/\n/g)?.length ?? 0), 'the file is not UTF-8 text (save it as "CSV UTF-8")');
    }
  };
  /** Buffers text until the header line is complete (to pick the delimiter), then parses. */
  const push = (text: string, final: boolean): CsvRow[] => {
    if (reader.parser === null) {
      reader.head += text;
      const newline = reader.head.indexOf('\n');
      if (newline < 0 && reader.head.length < 64 * 1024 && !final) return [];
      const head = reader.head.replace(/^\uFEFF/, '');
      reader.parser = new CsvParser(sniffDelimiter(newline < 0 ? head : head.slice(0, head.indexOf('\n'))), maxField);
      reader.head = '';
      text = head;
    }
    reader.parser.feed(text);
    if (final) reader.parser.end();
    return reader.parser.rows.splice(0);
  };
  for await (const chunk of chunks) yield* push(decode(chunk), false);
  yield* push(decode(undefined), true);
}
