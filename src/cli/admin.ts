/** `herald keys …`, `herald workspaces …` and `herald migrate`: work on the store directly, also while a server runs. */
import { table } from './table.js';
import type { Command } from 'commander';
import type { ApiKey } from '../core/types.js';
import { createKey, listKeys, revokeKey } from '../services/keys.js';
import { createWorkspace, listWorkspaces } from '../services/workspaces.js';
import { addSettingOptions, sourcesFrom, STORE_SETTINGS } from './options.js';
import { openRuntime, type Runtime } from './runtime.js';

async function withRuntime<T>(options: Record<string, unknown>, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(sourcesFrom(options));
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

function keyJson(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    scope: key.scope,
    workspace_id: key.workspaceId,
    smtp_networks: key.smtpNetworks,
    created_at: key.createdAt,
    revoked_at: key.revokedAt,
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

export function registerAdminCommands(program: Command): void {
  const keys = program.command('keys').description('manage API keys (also used as SMTP credentials)');
  addSettingOptions(
    keys
      .command('create')
      .description('create an API key; its secret is printed once')
      .requiredOption('--name <name>', 'a name to recognise the key by')
      .option('--scope <scope>', 'full | send | read', 'full')
      .option('--workspace <name>', 'workspace name or id', 'default')
      .option('--smtp-ip <cidr>', 'accept SMTP clients from this network without AUTH (repeatable)', collect, [])
      .option('--json', 'print one JSON object with id and secret'),
    STORE_SETTINGS,
  ).action(async (options: Record<string, unknown>) => {
    await withRuntime(options, async ({ deps }) => {
      const created = await createKey(deps, {
        name: String(options.name),
        scope: String(options.scope),
        workspace: String(options.workspace),
        smtpNetworks: options.smtpIp as string[],
      });
      if (options.json) {
        console.log(JSON.stringify({ ...keyJson(created.key), secret: created.secret }));
        return;
      }
      console.log(`Created key ${created.key.id} (${created.key.scope}) in workspace ${String(options.workspace)}.`);
      console.log(`Secret (shown once, store it now): ${created.secret}`);
      if (created.key.smtpNetworks.length > 0) console.log(`SMTP clients from ${created.key.smtpNetworks.join(', ')} may send without AUTH.`);
    });
  });

  addSettingOptions(
    keys.command('list').description('list API keys').option('--workspace <name>', 'only this workspace').option('--json', 'print JSON lines'),
    STORE_SETTINGS,
  ).action(async (options: Record<string, unknown>) => {
    await withRuntime(options, async ({ deps }) => {
      const list = await listKeys(deps, options.workspace as string | undefined);
      if (options.json) {
        for (const key of list) console.log(JSON.stringify(keyJson(key)));
        return;
      }
      const rows = [['ID', 'NAME', 'SCOPE', 'WORKSPACE', 'SMTP-IP', 'CREATED', 'REVOKED']];
      for (const k of list) rows.push([k.id, k.name, k.scope, k.workspaceId, k.smtpNetworks.join(',') || '-', k.createdAt, k.revokedAt ?? '-']);
      console.log(table(rows));
    });
  });

  addSettingOptions(keys.command('revoke').description('revoke an API key at once').argument('<id>', 'key id'), STORE_SETTINGS).action(
    async (id: string, options: Record<string, unknown>) => {
      await withRuntime(options, async ({ deps }) => {
        await revokeKey(deps, id);
        console.log(`Revoked ${id}.`);
      });
    },
  );

  const workspaces = program.command('workspaces').description('manage workspaces (tenants)');
  addSettingOptions(
    workspaces.command('create').description('create a workspace').argument('<name>', 'lower-case name').option('--json', 'print JSON'),
    STORE_SETTINGS,
  ).action(async (name: string, options: Record<string, unknown>) => {
    await withRuntime(options, async ({ deps }) => {
      const workspace = await createWorkspace(deps, name);
      console.log(options.json ? JSON.stringify({ id: workspace.id, name: workspace.name, created_at: workspace.createdAt }) : `Created workspace ${workspace.name} (${workspace.id}).`);
    });
  });
  addSettingOptions(workspaces.command('list').description('list workspaces').option('--json', 'print JSON lines'), STORE_SETTINGS).action(
    async (options: Record<string, unknown>) => {
      await withRuntime(options, async ({ deps }) => {
        const list = await listWorkspaces(deps);
        if (options.json) {
          for (const w of list) console.log(JSON.stringify({ id: w.id, name: w.name, created_at: w.createdAt }));
          return;
        }
        console.log(table([['ID', 'NAME', 'CREATED'], ...list.map((w) => [w.id, w.name, w.createdAt])]));
      });
    },
  );

  addSettingOptions(program.command('migrate').description('apply pending store migrations and exit'), STORE_SETTINGS).action(
    async (options: Record<string, unknown>) => {
      await withRuntime(options, async ({ config }) => {
        console.log(`Store in ${config.databaseUrl ? 'PostgreSQL' : config.data} is up to date.`);
      });
    },
  );
}
