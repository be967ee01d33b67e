/**
 * Resolves the configuration from, in rising precedence: defaults, an optional JSON config file
 * (`--config` / `HERALD_CONFIG`), `HERALD_*` environment variables, and command-line flags.
 * Every value is checked against its setting; the first bad one stops start-up with an error
 * that names the setting and where it came from.
 */
import { readFileSync } from 'node:fs';
import { HeraldError } from '../core/errors.js';
import { parseFrequencyCap } from '../core/frequency-cap.js';
import { SETTINGS, type HeraldConfig, type Setting } from './schema.js';
import { allowlistProblem } from '../events/webhooks/endpoint-guard.js';

type Raw = string | number | boolean | string[] | undefined;

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

function fail(setting: Setting, source: string, reason: string): never {
  throw new HeraldError('invalid_config', { field: `${setting.key} (${source})`, reason });
}

function parseValue(setting: Setting, raw: Raw, source: string): unknown {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  switch (setting.kind) {
    case 'string':
      if (text === '') fail(setting, source, 'must not be empty');
      if (setting.min !== undefined && text.length < setting.min) fail(setting, source, `must be at least ${setting.min} characters`);
      return text;
    case 'url': {
      try {
        new URL(text);
      } catch {
        fail(setting, source, `"${text}" is not a URL`);
      }
      return text;
    }
    case 'role':
      if (text !== 'all' && text !== 'api' && text !== 'worker') fail(setting, source, `"${text}" is not one of all, api, worker`);
      return text;
    case 'choice':
      if (!setting.choices?.includes(text)) fail(setting, source, `"${text}" is not one of ${setting.choices?.join(', ')}`);
      return text;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      return fail(setting, source, `"${text}" is not a boolean`);
    case 'list':
      return Array.isArray(raw) ? raw.map(String) : text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'port':
    case 'int': {
      if (!/^\d+$/.test(text)) fail(setting, source, `"${text}" is not a whole number`);
      const value = Number(text);
      if (setting.kind === 'port' && value > 65535) fail(setting, source, `${value} is not a port (0-65535)`);
      if (setting.min !== undefined && value < setting.min) fail(setting, source, `must be at least ${setting.min}`);
      return value;
    }
    case 'seconds': {
      const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
      if (!match) fail(setting, source, `"${text}" is not a duration (e.g. 30, 30s, 15m, 24h, 3d)`);
      const value = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1);
      if (setting.min !== undefined && value < setting.min) fail(setting, source, `must be at least ${setting.min}s`);
      return value;
    }
  }
}

export interface ConfigSources {
  /** Values from command-line flags, keyed by setting key; undefined means not given. */
  flags?: Partial<Record<keyof HeraldConfig, Raw>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file; also read from HERALD_CONFIG. */
  configFile?: string;
}

function readConfigFile(path: string): Record<string, Raw> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new HeraldError('invalid_config', { field: `config file ${path}`, reason: (error as Error).message });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HeraldError('invalid_config', { field: `config file ${path}`, reason: 'must hold a JSON object' });
  }
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new HeraldError('invalid_config', { field: `${key} (config file)`, reason: 'unknown setting' });
  }
  return parsed as Record<string, Raw>;
}

/** Builds the validated, frozen configuration. Throws `HeraldError('invalid_config')`. */
export function loadConfig(sources: ConfigSources = {}): Readonly<HeraldConfig> {
  const env = sources.env ?? process.env;
  const filePath = sources.configFile ?? env.HERALD_CONFIG;
  const file = filePath ? readConfigFile(filePath) : {};
  const config: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    let value = setting.default as unknown;
    const fromFile = parseValue(setting, file[setting.key], 'config file');
    if (fromFile !== undefined) value = fromFile;
    const envRaw = env[setting.env] ?? (setting.key === 'databaseUrl' ? env.DATABASE_URL : undefined);
    const fromEnv = parseValue(setting, envRaw === '' ? undefined : envRaw, setting.env);
    if (fromEnv !== undefined) value = fromEnv;
    const fromFlag = parseValue(setting, sources.flags?.[setting.key], setting.flag.split(' ')[0] ?? setting.key);
    if (fromFlag !== undefined) value = fromFlag;
    config[setting.key] = value;
  }
  const resolved = config as unknown as HeraldConfig;
  if ((resolved.tlsCert === undefined) !== (resolved.tlsKey === undefined)) {
    throw new HeraldError('invalid_config', { field: 'tlsCert/tlsKey', reason: 'give both a certificate and its key, or neither' });
  }
  if (resolved.relay !== undefined && !/^smtps?:$/.test(new URL(resolved.relay).protocol)) {
    throw new HeraldError('invalid_config', { field: 'relay', reason: 'must be an smtp:// or smtps:// URL' });
  }
  if (resolved.deliver === 'relay' && resolved.relay === undefined) {
    throw new HeraldError('invalid_config', { field: 'deliver', reason: 'relay needs --relay smtp://host:port' });
  }
  if (resolved.databaseUrl !== undefined && !/^postgres(ql)?:$/.test(new URL(resolved.databaseUrl).protocol)) {
    throw new HeraldError('invalid_config', { field: 'databaseUrl', reason: 'must be a postgres:// URL' });
  }
  for (const entry of resolved.webhookAllowlist ?? []) {
    const problem = allowlistProblem(entry);
    if (problem !== null) throw new HeraldError('invalid_config', { field: 'webhookAllowlist', reason: problem });
  }
  if (resolved.bounceDomain !== undefined) {
    if (!/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i.test(resolved.bounceDomain)) {
      throw new HeraldError('invalid_config', { field: 'bounceDomain', reason: `"${resolved.bounceDomain}" is not a domain name (e.g. bounce.example.com)` });
    }
    resolved.bounceDomain = resolved.bounceDomain.toLowerCase();
  }
  for (const part of resolved.tracking ?? []) {
    if (part !== 'opens' && part !== 'clicks') throw new HeraldError('invalid_config', { field: 'tracking', reason: `"${part}" is not opens or clicks` });
  }
  if ((resolved.tracking ?? []).length > 0 && resolved.publicUrl === undefined) {
    throw new HeraldError('invalid_config', { field: 'tracking', reason: 'tracking needs --public-url, the address mail clients reach the pixel and links at' });
  }
  if (resolved.frequencyCap !== undefined) {
    const parsed = parseFrequencyCap(resolved.frequencyCap, resolved.frequencyCapPolicy);
    if ('error' in parsed) throw new HeraldError('invalid_config', { field: 'frequencyCap', reason: parsed.error });
  }
  return Object.freeze(resolved);
}
