/**
 * `herald batch send|status|pause|resume|cancel|export`: bulk batches through a running Herald's
 * HTTP API (not the data directory, unlike `herald keys`). Uploads are streamed from the file,
 * never read whole. Exit codes: 0 done, 1 an error (or the batch was cancelled), 2 the batch
 * stopped and needs a person (paused, or awaiting approval after its canary).
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ApiClient, CliError, multipartBody, ndjsonBody } from './api-client.js';
import { followBatch, formatCounters, formatDuration, formatStatus, ProgressDisplay, type BatchJson, type FollowEnd } from './progress.js';

const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export interface ApiFlags {
  apiUrl: string;
  key?: string;
}

interface SendFlags extends ApiFlags {
  csv?: string;
  ndjson?: string;
  template?: string;
  text?: string;
  templateId?: string;
  templateVersion?: number;
  subject?: string;
  from: string;
  replyTo?: string;
  tag: string[];
  stream?: string;
  sendAt?: string;
  ratePerHour?: number;
  canaryPercent?: number;
  canaryHold?: boolean;
  canaryHoldSeconds?: number;
  onMissingVariable?: string;
  idempotencyKey?: string;
  wait: boolean;
  json?: boolean;
}

/** Runs a command action; a `CliError` becomes one `herald: …` line and exit code 1. */
export function run<A extends unknown[]>(work: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await work(...args);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      console.error(`herald: ${error.message}`);
      process.exitCode = 1;
    }
  };
}

export function withApi(command: Command): Command {
  return command
    .addOption(new Option('--api-url <url>', 'where Herald’s HTTP API listens').env('HERALD_API_URL').default(DEFAULT_API_URL))
    .addOption(new Option('--key <secret>', 'API key secret (sent as Authorization: Bearer)').env('HERALD_API_KEY'));
}

export const clientOf = (flags: ApiFlags) => new ApiClient({ url: flags.apiUrl, key: flags.key ?? '' });
const batchPath = (id: string) => `/v1/batches/${encodeURIComponent(id)}`;

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function percent(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 1 && n <= 50)) throw new InvalidArgumentError('must be a number from 1 to 50');
  return n;
}

const collect = (value: string, previous: string[]) => [...previous, value];
const plural = (n: number, noun: string) => `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;

function statFile(path: string, flag: string): Stats {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if (!stats.isFile()) throw new CliError(`${flag} ${path}: not a file`);
  return stats;
}

function readText(path: string, flag: string): string {
  statFile(path, flag);
  return readFileSync(path, 'utf8');
}

/** The batch options JSON from the flags, checked for what the API cannot say in our terms. */
function batchOptions(flags: SendFlags): Record<string, unknown> {
  const inline = flags.template !== undefined || flags.text !== undefined;
  if (inline && flags.templateId !== undefined) throw new CliError('give either --template/--text (files) or --template-id (a stored template), not both');
  if (!inline && flags.templateId === undefined) throw new CliError('the content is missing: give --template FILE.hbs (and --subject), or --template-id ID');
  if (inline && flags.subject === undefined) throw new CliError('--subject is required with --template');
  if (!inline && flags.subject !== undefined) throw new CliError('--subject goes with --template; a stored template has its own subject');
  if (flags.templateVersion !== undefined && flags.templateId === undefined) throw new CliError('--template-version needs --template-id');
  if (flags.canaryHold && flags.canaryHoldSeconds !== undefined) throw new CliError('give --canary-hold or --canary-hold-seconds, not both');
  if ((flags.canaryHold || flags.canaryHoldSeconds !== undefined) && flags.canaryPercent === undefined) throw new CliError('--canary-hold and --canary-hold-seconds need --canary-percent');
  const options: Record<string, unknown> = { from: flags.from };
  if (flags.replyTo !== undefined) options.reply_to = flags.replyTo;
  if (inline) {
    options.subject = flags.subject;
    if (flags.template !== undefined) options.html = readText(flags.template, '--template');
    if (flags.text !== undefined) options.text = readText(flags.text, '--text');
  } else {
    options.template_id = flags.templateId;
    if (flags.templateVersion !== undefined) options.template_version = flags.templateVersion;
  }
  if (flags.tag.length > 0) options.tags = flags.tag;
  if (flags.stream !== undefined) options.stream = flags.stream;
  if (flags.sendAt !== undefined) options.send_at = flags.sendAt;
  if (flags.ratePerHour !== undefined) options.rate = { per_hour: flags.ratePerHour };
  if (flags.canaryPercent !== undefined) {
    options.canary = {
      percent: flags.canaryPercent,
      ...(flags.canaryHold ? { hold: true } : {}),
      ...(flags.canaryHoldSeconds !== undefined ? { hold: false, hold_seconds: flags.canaryHoldSeconds } : {}),
    };
  }
  if (flags.onMissingVariable !== undefined) options.policies = { on_missing_variable: flags.onMissingVariable };
  return options;
}

/**
 * The same file (path, size, modification time) with the same options gives the same key, so
 * running the same command again after a network failure finds the batch instead of sending twice.
 */
function derivedIdempotencyKey(form: string, path: string, stats: Stats, optionsJson: string): string {
  const digest = createHash('sha256').update(JSON.stringify([form, resolve(path), stats.size, stats.mtimeMs, optionsJson])).digest('hex');
  return `herald-cli-${digest.slice(0, 48)}`;
}

const ENDINGS: Record<FollowEnd['status'], { exitCode: number; headline: (b: BatchJson, why: string | null) => string }> = {
  completed: { exitCode: 0, headline: (b) => `Batch ${b.id} completed${b.completed_at ? ` in ${formatDuration((Date.parse(b.completed_at) - Date.parse(b.created_at)) / 1000)}` : ''}.` },
  cancelled: { exitCode: 1, headline: (b, why) => `Batch ${b.id} was cancelled${why ? `: ${why}` : ''}.` },
  paused: { exitCode: 2, headline: (b, why) => `Batch ${b.id} is paused: ${b.status_reason ?? why ?? 'no reason given'}.\nResume it with: herald batch resume ${b.id}   (or cancel it: herald batch cancel ${b.id})` },
  awaiting_approval: {
    exitCode: 2,
    headline: (b) => `Batch ${b.id} finished its canary sample and waits for approval: POST ${batchPath(b.id)}/approve (or cancel it: herald batch cancel ${b.id})`,
  },
};

async function send(flags: SendFlags): Promise<void> {
  if ((flags.csv === undefined) === (flags.ndjson === undefined)) throw new CliError('give the recipients as one of --csv FILE or --ndjson FILE');
  const client = clientOf(flags);
  const form = flags.csv !== undefined ? 'csv' : 'ndjson';
  const file = (flags.csv ?? flags.ndjson) as string;
  const stats = statFile(file, `--${form}`);
  const optionsJson = JSON.stringify(batchOptions(flags));
  const idempotencyKey = flags.idempotencyKey ?? derivedIdempotencyKey(form, file, stats, optionsJson);
  const body = form === 'csv' ? multipartBody(optionsJson, file) : ndjsonBody(optionsJson, file);
  const response = await client.request('/v1/batches', {
    method: 'POST',
    headers: { 'content-type': body.contentType, 'idempotency-key': idempotencyKey },
    stream: body.stream,
  });
  const accepted = (await response.json()) as BatchJson;
  const replayed = response.headers.get('idempotent-replayed') === 'true';
  console.error(
    replayed
      ? `Batch ${accepted.id} was already submitted with this idempotency key (${idempotencyKey}); nothing new was sent. It is ${accepted.status}.`
      : `Batch ${accepted.id} accepted: ${plural(accepted.total, 'recipient')}, ${plural(accepted.rejected, 'row')} rejected; ${accepted.status}.`,
  );
  if (!flags.wait) {
    console.log(flags.json ? JSON.stringify(accepted) : accepted.id);
    return;
  }
  const display = new ProgressDisplay(process.stderr, accepted.id);
  const end = await followBatch(client, accepted.id, display);
  display.finish();
  const batch = await client.json<BatchJson>(batchPath(accepted.id));
  const ending = ENDINGS[end.status];
  if (flags.json) console.log(JSON.stringify(batch));
  else console.log(`${ending.headline(batch, end.reason)}\n\n${formatCounters(batch)}`);
  process.exitCode = ending.exitCode;
}

async function exportBatch(id: string, flags: ApiFlags & { format: string }): Promise<void> {
  const controller = new AbortController();
  const response = await clientOf(flags).request(`${batchPath(id)}/export?format=${flags.format}`, { signal: controller.signal });
  if (!response.body) return;
  try {
    await pipeline(Readable.fromWeb(response.body), process.stdout);
  } catch (error) {
    // The reader went away (`| head`): that is how pipes end, not an error.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') return;
    throw new CliError(`the export stopped: ${(error as Error).message}`, { cause: error });
  } finally {
    controller.abort();
  }
}

export function registerBatchCommands(program: Command): void {
  const batch = program.command('batch').description('bulk batches on a running Herald, over its HTTP API (--api-url, --key)');

  withApi(
    batch
      .command('send')
      .description('submit a batch from a CSV or NDJSON file, then follow it with a live progress bar to the end')
      .option('--csv <file>', 'recipients as CSV: an email column, name, and every other column a variable (streamed)')
      .option('--ndjson <file>', 'recipients as NDJSON, one {"email", "name", "variables"} per line (streamed)')
      .option('--template <file>', 'a Handlebars file: the HTML part (needs --subject)')
      .option('--text <file>', 'a Handlebars file: the plain-text part')
      .option('--subject <subject>', 'the subject (a template too) with --template')
      .option('--template-id <id>', 'a stored template instead of files')
      .option('--template-version <n>', 'pin this version of --template-id (default: the latest)', wholeNumber(1, 1_000_000))
      .requiredOption('--from <address>', 'the sender, e.g. "News <news@example.com>"')
      .option('--reply-to <address>', 'Reply-To')
      .option('--tag <tag>', 'a tag on every message (repeatable)', collect, [])
      .addOption(new Option('--stream <stream>', 'the message stream').choices(['broadcast', 'transactional']))
      .option('--send-at <iso>', 'start at this time (ISO 8601)')
      .option('--rate-per-hour <n>', 'send at most this many messages an hour', wholeNumber(1, 100_000_000))
      .option('--canary-percent <p>', 'send a sample of P% first (1-50) and wait for its outcome', percent)
      .option('--canary-hold', 'after the sample, wait for approval (the default with --canary-percent)')
      .option('--canary-hold-seconds <s>', 'after the sample, go on by itself after S seconds if its bounce rate is healthy', wholeNumber(0, 604_800))
      .addOption(new Option('--on-missing-variable <policy>', 'a row lacking a template variable').choices(['reject_row', 'fail_batch', 'render_empty']))
      .option('--idempotency-key <key>', 'the Idempotency-Key (default: derived from the file and options, see below)')
      .option('--no-wait', 'print the batch id and return once it is accepted')
      .option('--json', 'print the final batch as JSON on stdout instead of the summary'),
  )
    .addHelpText(
      'after',
      `
Idempotency: unless --idempotency-key is given, the key is derived from the file's path, size
and modification time and from the options, so running the same command again (after a network
failure, say) within 24 hours finds the batch already submitted instead of sending it twice.
Change the file or an option and it is a new batch.

Progress goes to stderr (a bar on a terminal, one line per update otherwise); the summary to stdout.
Exit codes: 0 completed; 1 an error, or the batch was cancelled; 2 paused (a guard rail or an
operator) or awaiting approval after its canary.

Example:
  herald batch send --csv list.csv --template welcome.hbs --subject "Welcome, {{name}}" --from "News <news@example.com>"`,
    )
    .action(run((flags: SendFlags) => send(flags)));

  withApi(batch.command('status').description('a batch’s state, counters, rate, ETA and why it stopped').argument('<id>', 'batch id').option('--json', 'print the batch as JSON')).action(
    run(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const state = await clientOf(flags).json<BatchJson>(batchPath(id));
      console.log(flags.json ? JSON.stringify(state, null, 2) : formatStatus(state));
    }),
  );

  const actions = { pause: 'stop handing its messages to transports (within a second)', resume: 'go on with a paused batch', cancel: 'cancel every message not yet sent' } as const;
  for (const [action, description] of Object.entries(actions)) {
    withApi(batch.command(action).description(description).argument('<id>', 'batch id').option('--reason <text>', 'recorded in the audit log').option('--json', 'print the batch as JSON')).action(
      run(async (id: string, flags: ApiFlags & { reason?: string; json?: boolean }) => {
        const state = await clientOf(flags).json<BatchJson>(`${batchPath(id)}/${action}`, { method: 'POST', json: flags.reason !== undefined ? { reason: flags.reason } : {} });
        console.log(flags.json ? JSON.stringify(state, null, 2) : `Batch ${state.id} is now ${state.status}${state.status_reason ? ` (${state.status_reason})` : ''}.`);
      }),
    );
  }

  withApi(
    batch
      .command('export')
      .description('every recipient with its final state, streamed to stdout (e.g. herald batch export ID > out.csv)')
      .argument('<id>', 'batch id')
      .addOption(new Option('--format <format>', 'output format').choices(['csv', 'ndjson']).default('csv')),
  ).action(run((id: string, flags: ApiFlags & { format: string }) => exportBatch(id, flags)));
}
