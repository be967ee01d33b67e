/**
 * The three wire forms of `POST /v1/batches`, read as streams so that memory stays flat however
 * long the list: a JSON object whose `recipients` array is streamed element by element,
 * NDJSON (first line the options, then one recipient per line), and a multipart upload of
 * options plus a CSV file (an `email` column; `name`; every other column becomes a variable).
 * Options must come before the recipients in every form. Each form also hashes what it read, for
 * idempotent replays, and stops at the size limit.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { HeraldError, invalid } from '../core/errors.js';
import { CsvError, readCsv } from '../lib/csv.js';
import { JsonStreamError, readJsonObject } from '../lib/json-stream.js';
import { NdjsonError, readNdjson } from '../lib/ndjson.js';
import type { BatchOptionsInput } from '../services/batch-options.js';
import type { RecipientRow } from '../services/batches.js';

export interface BatchBody {
  options: BatchOptionsInput;
  recipients: AsyncIterable<RecipientRow>;
  requestHash: () => string;
}

const EMAIL_COLUMNS = ['email', 'e-mail', 'email_address', 'emailaddress'];

/** Passes the bytes through, hashing them and stopping at the limit. */
async function* metered(source: AsyncIterable<Buffer | string>, hash: Hash, maxBytes: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += bytes.length;
    if (total > maxBytes) throw new HeraldError('batch_too_large', { limit: `${maxBytes} bytes` });
    hash.update(bytes);
    yield bytes;
  }
}

function recipientOf(value: unknown, row: number): RecipientRow {
  if (typeof value === 'string') return { row, email: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { row, error: 'a recipient must be an address or an object with email' };
  const r = value as Record<string, unknown>;
  return { row, email: r.email, name: r.name, variables: r.variables, metadata: r.metadata };
}

function wireError(error: unknown): never {
  if (error instanceof JsonStreamError) throw new HeraldError('invalid_json', { reason: error.message });
  if (error instanceof NdjsonError) throw new HeraldError('invalid_batch_row', { row: error.line, reason: error.reason });
  if (error instanceof CsvError) throw new HeraldError('invalid_batch_row', { row: error.row, reason: error.reason });
  throw error;
}

async function readJson(stream: Readable, maxBytes: number): Promise<BatchBody> {
  const hash = createHash('sha256');
  const items = readJsonObject(metered(stream, hash, maxBytes), { streamKey: 'recipients' })[Symbol.asyncIterator]();
  const options: Record<string, unknown> = {};
  let first: IteratorResult<Awaited<ReturnType<typeof items.next>>['value']> | null = null;
  try {
    for (;;) {
      const next = await items.next();
      if (next.done || next.value.kind === 'element') {
        first = next;
        break;
      }
      // A member named __proto__ would set the object's prototype, not an option: ignore it.
      if (next.value.key !== '__proto__') options[next.value.key] = next.value.value;
    }
  } catch (error) {
    wireError(error);
  }
  async function* recipients(): AsyncGenerator<RecipientRow> {
    try {
      let current = first;
      while (current && !current.done) {
        const item = current.value;
        if (item.kind === 'member') throw invalid(item.key, 'batch options must come before recipients in the body');
        yield recipientOf(item.value, item.index + 1);
        current = await items.next();
      }
    } catch (error) {
      wireError(error);
    }
  }
  return { options: options as BatchOptionsInput, recipients: recipients(), requestHash: () => hash.digest('hex') };
}

async function readNdjsonBody(stream: Readable, maxBytes: number): Promise<BatchBody> {
  const hash = createHash('sha256');
  const lines = readNdjson(metered(stream, hash, maxBytes))[Symbol.asyncIterator]();
  let head;
  try {
    head = await lines.next();
  } catch (error) {
    wireError(error);
  }
  if (!head || head.done || typeof head.value.value !== 'object' || head.value.value === null || Array.isArray(head.value.value)) {
    throw new HeraldError('invalid_batch_row', { row: head && !head.done ? head.value.line : 1, reason: 'the first line must be the batch options object' });
  }
  async function* recipients(): AsyncGenerator<RecipientRow> {
    try {
      for (let next = await lines.next(); !next.done; next = await lines.next()) yield recipientOf(next.value.value, next.value.line);
    } catch (error) {
      wireError(error);
    }
  }
  return { options: head.value.value as BatchOptionsInput, recipients: recipients(), requestHash: () => hash.digest('hex') };
}

async function readMultipart(stream: Readable, headers: Record<string, string | string[] | undefined>, maxBytes: number): Promise<BatchBody> {
  const hash = createHash('sha256');
  const parser = busboy({ headers: headers as Record<string, string>, limits: { files: 1, fields: 50, fieldSize: 8 * 1024 * 1024, fileSize: maxBytes } });
  const fields: Record<string, string> = {};
  const file = new Promise<Readable | null>((resolve, reject) => {
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (_name, fileStream) => resolve(fileStream));
    parser.on('close', () => resolve(null));
    parser.on('error', (error: Error) => reject(new HeraldError('validation_failed', { field: 'body', reason: `not a valid multipart upload: ${error.message}` })));
  });
  stream.pipe(parser);
  const csv = await file;
  if (csv === null) throw invalid('file', 'a CSV file part is required (after the options field)');
  let options: Record<string, unknown> = {};
  if (fields.options !== undefined) {
    try {
      options = JSON.parse(fields.options) as Record<string, unknown>;
    } catch (error) {
      throw invalid('options', `not valid JSON: ${(error as Error).message}`);
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('options', 'must be a JSON object');
  }
  for (const [name, value] of Object.entries(fields)) if (name !== 'options' && name !== '__proto__') options[name] = value;
  // A multipart boundary differs on every upload, so the hash covers what the parts hold.
  hash.update(JSON.stringify(fields));
  let truncated = false;
  csv.on('limit', () => {
    truncated = true;
  });
  async function* recipients(): AsyncGenerator<RecipientRow> {
    let columns: string[] | null = null;
    let emailAt = -1;
    let nameAt = -1;
    try {
      for await (const { row, fields: cells } of readCsv(metered(csv as AsyncIterable<Buffer>, hash, maxBytes))) {
        if (columns === null) {
          columns = cells.map((c) => c.trim());
          emailAt = columns.findIndex((c) => EMAIL_COLUMNS.includes(c.toLowerCase()));
          nameAt = columns.findIndex((c) => c.toLowerCase() === 'name');
          if (emailAt < 0) throw new HeraldError('invalid_batch_row', { row, reason: `the CSV has no email column (header: ${columns.slice(0, 10).join(', ')})` });
          continue;
        }
        const variables: Record<string, string> = {};
        columns.forEach((column, i) => {
          const cell = cells[i];
          if (i !== emailAt && i !== nameAt && column !== '' && cell !== undefined && cell !== '') variables[column] = cell;
        });
        yield { row, email: cells[emailAt], ...(nameAt >= 0 && cells[nameAt] ? { name: cells[nameAt] } : {}), variables };
      }
    } catch (error) {
      wireError(error);
    }
    if (truncated) throw new HeraldError('batch_too_large', { limit: `${maxBytes} bytes` });
    if (columns === null) throw invalid('file', 'the CSV file is empty');
  }
  return { options: options as BatchOptionsInput, recipients: recipients(), requestHash: () => hash.digest('hex') };
}

/** Reads the body of a batch submission by its content type. */
export function readBatchBody(stream: Readable, headers: Record<string, string | string[] | undefined>, maxBytes: number): Promise<BatchBody> {
  const type = String(headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return readJson(stream, maxBytes);
  if (type === 'application/x-ndjson' || type === 'application/ndjson') return readNdjsonBody(stream, maxBytes);
  if (type === 'multipart/form-data') return readMultipart(stream, headers, maxBytes);
  throw new HeraldError('unsupported_media_type', { type: type || '(none)' });
}
