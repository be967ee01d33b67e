/**
 * The process's secret key for signed links (tokens.ts): `--secret-key` when given, else a random
 * key generated once into `<data>/secret.key` (mode 0600) and reused on every later start, so
 * links in mail already sent keep working after a restart. Processes that do not share a data
 * directory (PostgreSQL scale-out) must be given the same `--secret-key`. The master key that seals
 * DKIM keys (`--master-key`, `<data>/master.key`) is made the same way.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HeraldError } from '../core/errors.js';
import { MIN_KEY_BYTES } from './tokens.js';

export interface SecretKey {
  key: Buffer;
  /** Where it was read from or written to; null when it came from the configuration. */
  path: string | null;
  /** True when this start generated it. */
  generated: boolean;
}

export const SECRET_KEY_FILE = 'secret.key';

function checked(text: string, field: string): Buffer {
  const key = Buffer.from(text, 'utf8');
  if (key.length < MIN_KEY_BYTES) throw new HeraldError('invalid_config', { field, reason: `must be at least ${MIN_KEY_BYTES} characters` });
  return key;
}

function readKeyFile(path: string, field: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HeraldError('invalid_config', { field, reason: `cannot read ${path}: ${(error as Error).message}` });
  }
  return checked(text.trim(), `${field} (${path})`);
}

/**
 * The configured key, or the data directory's, generated when there is none yet. Two processes
 * starting at once over one data directory agree: the file is created exclusively, and the
 * loser reads the winner's. Other keys made the same way (the master key that seals DKIM keys)
 * pass their own `file` and the setting `field` errors name.
 *
 * @example
 * const { key } = loadSecretKey({ dataDir: config.data, configured: config.secretKey });
 * const master = loadSecretKey({ dataDir: config.data, configured: config.masterKey, file: 'master.key', field: 'masterKey' });
 */
export function loadSecretKey(options: {
  dataDir: string;
  configured?: string | undefined;
  /** The file in the data directory; default {@link SECRET_KEY_FILE}. */
  file?: string;
  /** The setting errors name; default `secretKey`. */
  field?: string;
}): SecretKey {
  const field = options.field ?? 'secretKey';
  if (options.configured !== undefined) return { key: checked(options.configured, field), path: null, generated: false };
  const path = join(options.dataDir, options.file ?? SECRET_KEY_FILE);
  const existing = readKeyFile(path, field);
  if (existing !== null) return { key: existing, path, generated: false };
  const text = randomBytes(32).toString('base64url');
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = readKeyFile(path, field);
    if (raced !== null) return { key: raced, path, generated: false };
  }
  return { key: Buffer.from(text, 'utf8'), path, generated: true };
}
