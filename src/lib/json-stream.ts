/**
 * Reads one JSON object from a byte stream without holding it whole: top-level members come out
 * one by one, and the elements of one named array member (a batch's `recipients`) come out as
 * they complete, so a body with millions of recipients is parsed in memory bounded by the
 * largest single element. Everything else about JSON is checked by JSON.parse on each piece.
 */
export class JsonStreamError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(`at character ${offset}: ${reason}`);
    this.name = 'JsonStreamError';
  }
}

export type JsonStreamItem =
  | { kind: 'member'; key: string; value: unknown }
  | { kind: 'element'; key: string; index: number; value: unknown };

export interface JsonStreamOptions {
  /** The array member whose elements are streamed. */
  streamKey: string;
  /** Largest member value or array element, in characters. */
  maxValueLength?: number;
}

type State = 'start' | 'key' | 'colon' | 'value' | 'array-start' | 'element' | 'after-member' | 'done';

const WS = new Set([' ', '\t', '\n', '\r']);

export async function* readJsonObject(chunks: AsyncIterable<Buffer | string>, options: JsonStreamOptions): AsyncGenerator<JsonStreamItem> {
  const maxValue = options.maxValueLength ?? 8 * 1024 * 1024;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let state: State = 'start';
  let offset = 0;
  let key = '';
  let index = 0;
  // The piece being collected (a key string, a member value or an element) and its scan state.
  let piece = '';
  let depth = 0;
  let inString = false;
  let escaped = false;

  const fail = (reason: string): never => {
    throw new JsonStreamError(offset, reason);
  };
  const parsePiece = (): unknown => {
    try {
      return JSON.parse(piece);
    } catch (error) {
      return fail(`${(error as Error).message}`);
    }
  };

  for await (const chunk of chunks) {
    let text: string;
    try {
      text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    } catch {
      fail('the body is not valid UTF-8');
      return;
    }
    const items: JsonStreamItem[] = [];
    for (let i = 0; i < text.length; i++, offset++) {
      const ch = text[i] as string;
      switch (state) {
        case 'start':
          if (WS.has(ch)) continue;
          if (ch !== '{') fail('the body must be a JSON object');
          state = 'key';
          continue;
        case 'key':
          if (piece === '') {
            if (WS.has(ch)) continue;
            if (ch === '}' && key === '') {
              state = 'done';
              continue;
            }
            if (ch !== '"') fail('expected a member name');
            piece = '"';
            continue;
          }
          piece += ch;
          if (escaped) escaped = false;
          else if (ch === '\\') escaped = true;
          else if (ch === '"') {
            key = parsePiece() as string;
            piece = '';
            state = 'colon';
          }
          continue;
        case 'colon':
          if (WS.has(ch)) continue;
          if (ch !== ':') fail(`expected ':' after "${key}"`);
          state = key === options.streamKey ? 'array-start' : 'value';
          continue;
        case 'array-start':
          if (WS.has(ch)) continue;
          if (ch !== '[') fail(`${key} must be an array`);
          index = 0;
          state = 'element';
          continue;
        case 'value':
        case 'element': {
          if (piece === '' && WS.has(ch)) continue;
          if (state === 'element' && piece === '' && ch === ']' && index === 0) {
            state = 'after-member';
            continue;
          }
          if (inString) {
            piece += ch;
            if (escaped) escaped = false;
            else if (ch === '\\') escaped = true;
            else if (ch === '"') inString = false;
            continue;
          }
          const closesAt = depth === 0 && (ch === ',' || ch === '}' || ch === ']');
          if (!closesAt) {
            if (ch === '"') inString = true;
            else if (ch === '{' || ch === '[') depth += 1;
            else if (ch === '}' || ch === ']') depth -= 1;
            piece += ch;
            if (piece.length > maxValue) fail(`${state === 'element' ? `${key}[${index}]` : key} is longer than ${maxValue} characters`);
            continue;
          }
          if (piece.trim() === '') fail('expected a value');
          const value = parsePiece();
          piece = '';
          if (state === 'element') {
            items.push({ kind: 'element', key, index, value });
            index += 1;
            if (ch === ',') continue;
            if (ch !== ']') fail(`expected ',' or ']' in ${key}`);
            state = 'after-member';
            continue;
          }
          items.push({ kind: 'member', key, value });
          key = '';
          if (ch === ',') state = 'key';
          else if (ch === '}') state = 'done';
          else fail("expected ',' or '}'");
          continue;
        }
        case 'after-member':
          if (WS.has(ch)) continue;
          key = '';
          if (ch === ',') state = 'key';
          else if (ch === '}') state = 'done';
          else fail("expected ',' or '}'");
          continue;
        case 'done':
          if (!WS.has(ch)) fail('unexpected content after the object');
          continue;
      }
    }
    yield* items;
  }
  if (state !== 'done') fail('the body ended before the object was complete');
}
