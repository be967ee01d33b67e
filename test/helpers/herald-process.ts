/**
 * Runs `herald serve` as a real child process, parses its start-up banner (API URL, SMTP port,
 * first-start key) and stops it with a signal. Used by tests that need a whole process: the
 * quickstart, kill -9 durability and graceful shutdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface HeraldProcess {
  child: ChildProcess;
  apiUrl: string;
  smtpPort: number;
  /** The herald process itself (under `npm start`, npm's child). */
  pid: number;
  keyId: string | null;
  secret: string | null;
  output: () => string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
}

export interface StartOptions {
  command?: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export function startHerald(options: StartOptions): Promise<HeraldProcess> {
  const child = spawn(options.command ?? process.execPath, options.args, {
    cwd: REPO_ROOT,
    // Tests send from made-up domains: accept them unless a test turns the check on.
    env: { ...process.env, HERALD_LOG_LEVEL: 'warn', HERALD_ALLOW_UNVERIFIED: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`herald did not start in time:\n${out}`));
    }, options.timeoutMs ?? 60_000);
    const check = () => {
      const api = /API\s+(http:\/\/\S+)/.exec(out);
      const smtp = /SMTP\s+\S+:(\d+)/.exec(out);
      // A worker (`--role worker`) listens on nothing: its banner ends with the delivery line.
      const worker = options.args.includes('worker') && /Delivery/.test(out);
      if (!worker && (!api || !smtp || !/Delivery|Store/.test(out))) return;
      clearTimeout(deadline);
      child.stdout?.off('data', check);
      resolve({
        child,
        apiUrl: api?.[1] ?? '',
        smtpPort: Number(smtp?.[1] ?? 0),
        pid: Number(/is running \(pid (\d+)\)/.exec(out)?.[1] ?? child.pid),
        keyId: /Key id:\s+(\S+)/.exec(out)?.[1] ?? null,
        secret: /Key secret:\s+(\S+)/.exec(out)?.[1] ?? null,
        output: () => out,
        exited,
      });
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(deadline);
      reject(new Error(`herald exited (${code}) before it was ready:\n${out}`));
    });
  });
}

/** What a CLI run printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `herald` CLI once as a child process (killed after 25 s), for CLI tests. */
export function runHerald(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${REPO_ROOT}bin/herald.js`, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}
