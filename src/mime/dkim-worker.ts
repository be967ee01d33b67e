/**
 * The worker-thread side of DkimSignerPool: it signs batches of messages with dkimSignatures and
 * posts the signature fields back, keeping its own parsed-key cache (dkim-sign.ts's) for the thread's lifetime.
 * It owns the message protocol between pool and worker (the types below); it must hold no state
 * beyond that cache and must never be imported outside a worker, which is why running it
 * anywhere else throws.
 *
 * Errors are answered per message, so one bad message fails only itself. Only the pool's crash
 * test hook ends the thread from inside, by an uncaught exception — the same path a real crash
 * (a native fault surfacing as an exception) takes.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { dkimSignatures, type DkimKey, type DkimOptions } from './dkim-sign.js';

/** One message to sign. Items of a batch that share keys and options share the objects, which the structured clone then sends once. */
export interface SignJob {
  raw: string;
  keys: DkimKey[];
  options: DkimOptions | undefined;
}

export type WorkerRequest =
  | { type: 'sign'; batch: number; jobs: SignJob[] }
  /** Test hook: makes the worker die as if it had crashed. */
  | { type: 'crash' };

/** What went wrong with one message, flattened because class identity does not survive postMessage. */
export interface JobFailure {
  name: string;
  message: string;
  code?: string;
  params?: Record<string, string | number>;
}

/** On success only the DKIM-Signature fields travel back; the pool still holds the message. */
export type JobResult = { ok: true; signatures: string } | { ok: false; error: JobFailure };

export type WorkerResponse = { type: 'ready' } | { type: 'signed'; batch: number; results: JobResult[] };

function failure(error: unknown): JobFailure {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, params } = error as Error & { code?: unknown; params?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(params !== null && typeof params === 'object' ? { params: params as Record<string, string | number> } : {}),
  };
}

function signOne(job: SignJob): JobResult {
  try {
    return { ok: true, signatures: dkimSignatures(job.raw, job.keys, job.options) };
  } catch (error) {
    return { ok: false, error: failure(error) };
  }
}

const port = parentPort;
if (isMainThread || port === null) throw new Error('dkim-worker.ts runs only inside a worker thread started by DkimSignerPool');

port.on('message', (request: WorkerRequest) => {
  // Thrown from the listener, so it is uncaught and ends the thread before any later message.
  if (request.type === 'crash') throw new Error('DKIM worker crashed on request (test hook)');
  const response: WorkerResponse = { type: 'signed', batch: request.batch, results: request.jobs.map(signOne) };
  port.postMessage(response);
});
port.postMessage({ type: 'ready' } satisfies WorkerResponse);
