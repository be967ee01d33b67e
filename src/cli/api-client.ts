/**
 * The CLI's side of Herald's HTTP API: requests with the key as a bearer token, the API's
 * `{"error": {"code", "message"}}` answers turned into one-line `CliError`s, batch upload bodies
 * streamed from a file (never read whole), and a reader for `text/event-stream` bodies. It owns
 * no command, prints nothing and never exits the process.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';

/** A failure the user can act on, shown as one line (`herald: …`) with exit code 1. */
export class CliError extends Error {
  /** The API's error code when the server answered with one (`invalid_api_key`, …). */
  readonly code: string | null;
  /** The HTTP status when the server answered. */
  readonly status: number | null;

  constructor(message: string, options: { code?: string; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = options.code ?? null;
    this.status = options.status ?? null;
  }
}

export interface ApiSettings {
  /** Base URL of a running Herald, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A key secret, sent as `Authorization: Bearer`. */
  key: string;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  /** A JSON value, or a stream (sent with `duplex: 'half'`). */
  json?: unknown;
  stream?: ReadableStream<Uint8Array>;
  signal?: AbortSignal;
}

/** The code of the system error under a failed `fetch` (`ECONNREFUSED`, `ENOTFOUND`, …). */
function causeOf(error: unknown): { code: string | null; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return { code, message: current.message };
    if (current.cause === undefined) break;
    current = current.cause;
  }
  return { code: null, message: current instanceof Error ? current.message : String(current) };
}

export class ApiClient {
  readonly #settings: Readonly<ApiSettings>;

  constructor(settings: ApiSettings) {
    if (settings.key === '') throw new CliError('no API key: pass --key or set HERALD_API_KEY (the secret `herald keys create` printed)');
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      throw new CliError(`--api-url: "${settings.url}" is not a URL (e.g. http://127.0.0.1:8080)`);
    }
    this.#settings = Object.freeze({ url: url.toString().replace(/\/+$/, ''), key: settings.key });
  }

  get url(): string {
    return this.#settings.url;
  }

  /** Sends a request and returns the response when it is a 2xx; throws `CliError` otherwise. */
  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#settings.key}`, ...options.headers };
    let body: string | ReadableStream<Uint8Array> | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.stream) {
      body = options.stream;
    }
    let response: Response;
    try {
      response = await fetch(`${this.#settings.url}${path}`, {
        method: options.method ?? 'GET',
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(options.stream ? { duplex: 'half' as const } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw this.#unreachable(error);
    }
    if (!response.ok) throw await apiError(response);
    return response;
  }

  /** `request` and the JSON of its answer. */
  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(path, options);
    return (await response.json()) as T;
  }

  #unreachable(error: unknown): Error {
    if (error instanceof CliError) return error;
    if (error instanceof Error && error.name === 'AbortError') return error;
    const cause = causeOf(error);
    // A file that fails while its upload streams surfaces here, wrapped by fetch.
    if (cause.code === 'ENOENT' || cause.code === 'EACCES' || cause.code === 'EISDIR') return new CliError(cause.message, { cause: error });
    const why = cause.code ?? cause.message;
    return new CliError(`cannot reach Herald at ${this.#settings.url} (${why}); is \`herald serve\` running there? Set --api-url or HERALD_API_URL`, { cause: error });
  }
}

/** The API's error body as a `CliError`: `invalid_api_key: the API key is … (HTTP 401)`. */
export async function apiError(response: Response): Promise<CliError> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = parsed.error?.code;
    const message = parsed.error?.message;
    if (typeof code === 'string') {
      return new CliError(`${code}: ${typeof message === 'string' ? message : 'no message'} (HTTP ${response.status})`, { code, status: response.status });
    }
  } catch {
    // not the API's JSON: a proxy or another server answered
  }
  const snippet = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
  return new CliError(`HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ''} from ${response.url}; is this a Herald API URL?`, { status: response.status });
}

/** An async iterator of byte chunks as the web stream `fetch` takes for a body. */
function webStream(source: AsyncIterator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await source.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await source.return?.(undefined);
    },
  });
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(path)) yield chunk as Buffer;
}

/** `multipart/form-data` for `POST /v1/batches`: the options field first (the API needs them before any row), then the CSV, streamed. */
export function multipartBody(optionsJson: string, path: string): { stream: ReadableStream<Uint8Array>; contentType: string } {
  const boundary = `----herald-cli-${randomBytes(12).toString('hex')}`;
  const filename = basename(path).replace(/["\r\n\\]/g, '_');
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="options"\r\n\r\n${optionsJson}\r\n`);
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/csv\r\n\r\n`);
    yield* fileChunks(path);
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  return { stream: webStream(parts()), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** NDJSON for `POST /v1/batches`: the options as the first line, then the file's lines as they are. */
export function ndjsonBody(optionsJson: string, path: string): { stream: ReadableStream<Uint8Array>; contentType: string } {
  async function* lines(): AsyncGenerator<Uint8Array> {
    yield Buffer.from(`${optionsJson}\n`);
    yield* fileChunks(path);
  }
  return { stream: webStream(lines()), contentType: 'application/x-ndjson' };
}

export interface ServerSentEvent {
  /** `event:` (default `message`). */
  event: string;
  /** `id:`, when the event had one. */
  id: string | null;
  data: string;
}

/**
 * Reads a `text/event-stream` body event by event (the WHATWG rules that matter here: lines end
 * in LF, CR or CRLF; `:` starts a comment; several `data:` lines join with LF; a blank line ends
 * an event; an event without data is dropped).
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let id: string | null = null;
  let data: string[] = [];
  const reader = body.getReader();
  try {
    for (;;) {
      const chunk = await reader.read();
      buffer += chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      for (let end = buffer.search(/\r\n|\r|\n/); end >= 0; end = buffer.search(/\r\n|\r|\n/)) {
        // A CR at the very end may be the first half of a CRLF still in flight.
        if (buffer[end] === '\r' && end === buffer.length - 1 && !chunk.done) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', id, data: data.join('\n') };
          event = '';
          id = null;
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
      if (chunk.done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
