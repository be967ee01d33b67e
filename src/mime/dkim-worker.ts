/**
 * The worker thread behind DkimSignerPool: the message protocol between pool and worker, how a
 * worker is started, and the thread's loop, which signs batches with dkimSignatures and posts
 * the signature fields back, keeping dkim-sign.ts's parsed-key cache for the thread's lifetime.
 * It holds no other state and makes no scheduling decisions (the pool does). Imported in the
 * main thread it only provides locateWorker and startWorker; the loop runs only in threads
 * startWorker started.
 *
 * Finding the worker script: compiled (`tsc -p tsconfig.build.json` puts this file at
 * dist/mime/dkim-worker.js) a worker starts from this very file. Run from sources (under vitest,
 * which transforms .ts for the main thread only, while Node 20 can neither run .ts nor strip
 * types) this module's own URL ends in .ts: locateWorker then transpiles this file and the
 * modules it imports with the project's `typescript` (a dev dependency, so present wherever
 * sources run), once per pool, and each worker starts from a small bootstrap that registers Node
 * module hooks serving those modules under their own .ts URLs. Both ways run the very same
 * modules; transpiling once in the main thread rather than in every worker's hooks thread keeps
 * a worker's start-up at tens of milliseconds.
 *
 * Errors are answered per message, so one bad message fails only itself. Only the pool's crash
 * test hook ends the thread from inside, by an uncaught exception — the same path a real crash
 * (a native fault surfacing as an exception) takes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type * as TypeScript from 'typescript';
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

/**
 * Where workers come from: the compiled sibling file, or — when this module itself runs as .ts —
 * the worker's module graph transpiled here, once per pool, and handed to each thread.
 */
export type WorkerSource = { kind: 'compiled'; url: URL } | { kind: 'sources'; entry: string; modules: Record<string, string> };

export function locateWorker(): WorkerSource {
  const self = new URL(import.meta.url);
  if (!self.pathname.endsWith('.ts')) return { kind: 'compiled', url: self };
  return { kind: 'sources', entry: self.href, modules: transpileGraph(self.href) };
}

export function startWorker(source: WorkerSource): Worker {
  if (source.kind === 'compiled') return new Worker(source.url, { workerData: { role: ROLE } });
  return new Worker(SOURCE_BOOTSTRAP, {
    eval: true,
    workerData: { role: ROLE, hooks: `data:text/javascript,${encodeURIComponent(SOURCE_HOOKS)}`, entry: source.entry, modules: source.modules },
  });
}

/**
 * Marks threads started here, so that importing this module in any other worker thread (a test
 * runner's, say) never hijacks that thread's parent port.
 */
const ROLE = 'herald-dkim-signer';

/** Relative static and dynamic imports left in transpiled output (type-only ones are gone by then). */
const RELATIVE_IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*(['"])(\.{1,2}\/[^'"]+)\1/g;

/** Transpiles `entry` and every .ts module it reaches through relative imports, keyed by file URL. */
function transpileGraph(entry: string): Record<string, string> {
  // typescript is a dev dependency, so present wherever sources run; loading it once per process
  // in this thread is far cheaper than in every worker's hooks thread.
  const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
  const modules: Record<string, string> = {};
  const pending = [entry];
  for (let url = pending.pop(); url !== undefined; url = pending.pop()) {
    if (url in modules) continue;
    const { outputText } = ts.transpileModule(readFileSync(new URL(url), 'utf8'), {
      fileName: fileURLToPath(url),
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    modules[url] = outputText;
    for (const [, , specifier] of outputText.matchAll(RELATIVE_IMPORT)) {
      const target = new URL(specifier ?? '', url).href.replace(/\.js$/, '.ts');
      if (target.endsWith('.ts') && existsSync(new URL(target))) pending.push(target);
    }
  }
  return modules;
}

/** The worker's CommonJS entry in source mode: install the hooks, then load the real worker. */
const SOURCE_BOOTSTRAP = `
const { register } = require('node:module');
const { workerData } = require('node:worker_threads');
register(workerData.hooks, { data: { modules: workerData.modules } });
import(workerData.entry).catch((error) => { setImmediate(() => { throw error; }); });
`;

/**
 * Module hooks (Node runs them on its hooks thread) serving the transpiled modules under their
 * .ts URLs, with relative imports resolved as NodeNext writes them — `./x.js` meaning `./x.ts`.
 */
const SOURCE_HOOKS = `
let modules;
export function initialize(data) { modules = data.modules; }
export async function resolve(specifier, context, next) {
  if (specifier in modules) return { url: specifier, format: 'module', shortCircuit: true };
  if (context.parentURL in modules && /^\\.{1,2}\\//.test(specifier)) {
    const url = new URL(specifier, context.parentURL).href.replace(/\\.js$/, '.ts');
    if (url in modules) return { url, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url in modules) return { format: 'module', source: modules[url], shortCircuit: true };
  return next(url, context);
}
`;

if (!isMainThread && parentPort !== null && (workerData as { role?: unknown } | null)?.role === ROLE) {
  const port = parentPort;
  port.on('message', (request: WorkerRequest) => {
    // Thrown from the listener, so it is uncaught and ends the thread before any later message.
    if (request.type === 'crash') throw new Error('DKIM worker crashed on request (test hook)');
    const response: WorkerResponse = { type: 'signed', batch: request.batch, results: request.jobs.map(signOne) };
    port.postMessage(response);
  });
  port.postMessage({ type: 'ready' } satisfies WorkerResponse);
}
