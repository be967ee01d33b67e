/**
 * A streaming NDJSON reader: one JSON value per line, memory bounded by one line. Errors name the
 * line; blank lines are skipped; a line longer than the limit is refused rather than buffered.
 */
export class NdjsonError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'NdjsonError';
  }
}

export interface NdjsonLine {
  line: number;
  value: unknown;
}

export async function* readNdjson(chunks: AsyncIterable<Buffer | string>, options: { maxLineLength?: number } = {}): AsyncGenerator<NdjsonLine> {
  const maxLine = options.maxLineLength ?? 1024 * 1024;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let buffer = '';
  let line = 0;
  const parse = (text: string): NdjsonLine | null => {
    line += 1;
    const trimmed = text.trim();
    if (trimmed === '') return null;
    try {
      return { line, value: JSON.parse(trimmed) as unknown };
    } catch (error) {
      throw new NdjsonError(line, `not valid JSON (${(error as Error).message})`);
    }
  };
  const decode = (chunk: Buffer | string | undefined): string => {
    if (typeof chunk === 'string') return chunk;
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw new NdjsonError(line + 1 + (buffer.match(/\n/g)?.length ?? 0), 'not UTF-8 text');
    }
  };
  const drain = function* (): Generator<NdjsonLine> {
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const parsed = parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      if (parsed) yield parsed;
      newline = buffer.indexOf('\n');
    }
    if (buffer.length > maxLine) throw new NdjsonError(line + 1, `longer than ${maxLine} characters`);
  };
  for await (const chunk of chunks) {
    buffer += decode(chunk);
    yield* drain();
  }
  buffer += decode(undefined);
  yield* drain();
  const last = parse(buffer);
  if (last) yield last;
}
