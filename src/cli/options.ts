/** Builds commander options from the settings table, and reads them back as config flags. */
import { Option, type Command } from 'commander';
import type { ConfigSources } from '../config/load.js';
import { SETTINGS, type HeraldConfig } from '../config/schema.js';

/** Adds an option per setting (all of them for `serve`; only the store's for the admin commands). */
export function addSettingOptions(command: Command, keys?: (keyof HeraldConfig)[]): Command {
  for (const setting of SETTINGS) {
    if (keys && !keys.includes(setting.key)) continue;
    const defaultText = setting.default === undefined ? '' : ` (default: ${String(setting.default)})`;
    command.addOption(new Option(setting.flag, `${setting.description}${defaultText}; env ${setting.env}`));
  }
  command.addOption(new Option('--config <file>', 'JSON config file; env HERALD_CONFIG'));
  return command;
}

/** Reads the parsed options back into config sources (flags not given stay undefined). */
export function sourcesFrom(options: Record<string, unknown>): ConfigSources {
  const flags: ConfigSources['flags'] = {};
  for (const setting of SETTINGS) {
    const value = options[setting.key];
    if (value !== undefined) flags[setting.key] = value as string;
  }
  return { flags, ...(typeof options.config === 'string' ? { configFile: options.config } : {}) };
}

/** The settings an admin command needs to find the same store as the server. */
export const STORE_SETTINGS: (keyof HeraldConfig)[] = ['data', 'databaseUrl'];
