/**
 * The suppression list as CSV: import from a byte stream (memory bounded by one chunk of rows)
 * and export as rows for the caller to serialise. Import reads a header with an `email` column
 * and optional `reason` and `scope` columns (other columns, such as an export's `source` and
 * `created_at`, are ignored); a bad row is reported with its row number and skipped, good rows
 * are written in chunks of a transaction each, so an import is not all-or-nothing: rows before a
 * malformed line or the size limit are kept, and importing the same file again is harmless.
 */
import { HeraldError } from '../core/errors.js';
import { CsvError, readCsv } from '../lib/csv.js';
import type { Suppression, SuppressionWrite } from '../store/store.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireScope } from './keys.js';
import { checkEntry, SUPPRESSION_LIMITS, writeSuppressions, type CheckedEntry } from './suppressions.js';

export const IMPORT_LIMITS = Object.freeze({
  /** Largest import body, bytes. */
  maxBytes: 256 * 1024 * 1024,
  /** Rejected rows listed in the report (all are counted). */
  listedRejections: 1000,
});

/** The columns an export writes, in order; import reads the first three. */
export const EXPORT_COLUMNS = ['email', 'reason', 'scope', 'source', 'created_at'] as const;

const EMAIL_HEADERS = ['email', 'e-mail', 'email_address', 'emailaddress'];

export interface ImportRejection {
  /** The row in the file (1-based; the header is row 1). */
  row: number;
  email: string;
  /** The column at fault: `email`, `reason` or `scope`. */
  field: string;
  message: string;
}

export interface ImportReport {
  /** Good rows written (added, updated or already as given). */
  imported: number;
  added: number;
  updated: number;
  unchanged: number;
  /** Every bad row, counted. */
  rejected: number;
  /** The first bad rows, with what was wrong. */
  rejections: ImportRejection[];
}

interface Columns {
  email: number;
  reason: number;
  scope: number;
}

function columnsOf(header: string[]): Columns {
  const names = header.map((name) => name.trim().toLowerCase());
  const email = names.findIndex((name) => EMAIL_HEADERS.includes(name));
  if (email < 0) throw new HeraldError('invalid_csv', { row: 1, reason: 'the header has no email column', imported: 0 });
  return { email, reason: names.indexOf('reason'), scope: names.indexOf('scope') };
}

function cell(fields: string[], index: number): string | undefined {
  const value = index < 0 ? undefined : fields[index]?.trim();
  return value === '' ? undefined : value;
}

/** Stops the stream at the size limit, counting what passed. */
async function* metered(chunks: AsyncIterable<Buffer | string>, maxBytes: number, sizeError: () => HeraldError): AsyncGenerator<Buffer | string> {
  let total = 0;
  for await (const chunk of chunks) {
    total += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (total > maxBytes) throw sizeError();
    yield chunk;
  }
}

/** Reads a CSV upload and writes its good rows, in chunks, as `source: import`. */
export async function importSuppressions(
  deps: ServiceDeps,
  principal: Principal,
  chunks: AsyncIterable<Buffer | string>,
  options: { maxBytes?: number } = {},
): Promise<ImportReport> {
  requireScope(principal, 'send');
  const maxBytes = options.maxBytes ?? IMPORT_LIMITS.maxBytes;
  const report: ImportReport = { imported: 0, added: 0, updated: 0, unchanged: 0, rejected: 0, rejections: [] };
  let pending: CheckedEntry[] = [];
  const flush = async () => {
    const writes: SuppressionWrite[] = await writeSuppressions(deps, principal.workspaceId, pending);
    for (const write of writes) report[write.change] += 1;
    report.imported += pending.length;
    pending = [];
  };
  let columns: Columns | null = null;
  try {
    for await (const { row, fields } of readCsv(metered(chunks, maxBytes, () => new HeraldError('payload_too_large', { limit: maxBytes })))) {
      if (columns === null) {
        columns = columnsOf(fields);
        continue;
      }
      const email = cell(fields, columns.email) ?? '';
      try {
        pending.push(checkEntry({ email, reason: cell(fields, columns.reason) ?? 'manual', scope: cell(fields, columns.scope), source: 'import' }));
      } catch (error) {
        if (!(error instanceof HeraldError)) throw error;
        report.rejected += 1;
        if (report.rejections.length < IMPORT_LIMITS.listedRejections) {
          report.rejections.push({ row, email, field: error.field ?? 'email', message: error.message });
        }
      }
      if (pending.length >= SUPPRESSION_LIMITS.chunk) await flush();
    }
  } catch (error) {
    // What was read before a malformed line (or the size limit) is kept: write it, then refuse.
    const tooLarge = error instanceof HeraldError && error.code === 'payload_too_large';
    if (error instanceof CsvError || tooLarge) await flush();
    if (error instanceof CsvError) throw new HeraldError('invalid_csv', { row: error.row, reason: error.reason, imported: report.imported });
    throw error;
  }
  if (columns === null) throw new HeraldError('invalid_csv', { row: 1, reason: 'the file is empty; it needs a header with an email column', imported: 0 });
  await flush();
  return report;
}

/**
 * Every entry of the workspace, in (email, scope) order, read from the store a page at a time.
 * The scope is checked when this is called, before the first row is asked for.
 */
export function exportSuppressions(deps: ServiceDeps, principal: Principal, options: { pageSize?: number } = {}): AsyncGenerator<Suppression> {
  requireScope(principal, 'read');
  const limit = options.pageSize ?? 1000;
  async function* rows(): AsyncGenerator<Suppression> {
    let after: Pick<Suppression, 'email' | 'scope'> | undefined;
    for (;;) {
      const page = await deps.store.listSuppressions(principal.workspaceId, { limit, ...(after ? { after } : {}) });
      yield* page;
      const last = page.at(-1);
      if (page.length < limit || !last) return;
      after = { email: last.email, scope: last.scope };
    }
  }
  return rows();
}

/** One RFC 4180 line of an export (CRLF-terminated). */
export function exportLine(entry: Suppression): string {
  const values = [entry.email, entry.reason, entry.scope, entry.source, entry.createdAt];
  return `${values.map((v) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',')}\r\n`;
}
