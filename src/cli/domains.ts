/**
 * `herald domains add|verify|list|show|rotate|remove`: sending domains on a running Herald,
 * through its HTTP API (like `herald batch`). Records print as a table to copy into a DNS host,
 * or as zone-file lines (`--zone`); `--json` prints the API's answer. `verify` exits 0 when the
 * domain is verified and 2 when it is not yet, so a script can wait for DNS to catch up.
 */
import { Option, type Command } from 'commander';
import { clientOf, run, withApi, type ApiFlags } from './batch.js';
import { table } from './table.js';

interface RecordJson {
  purpose: string;
  type: string;
  name: string;
  value: string;
  zone: string;
  required: boolean;
  state: string;
  found: string[];
  detail: string | null;
}

interface DomainJson {
  id: string;
  name: string;
  status: string;
  dkim: { selector: string; algorithm: string } | null;
  keys: { selector: string; algorithm: string; state: string }[];
  records: RecordJson[];
  verified_at: string | null;
  last_checked_at: string | null;
  activated?: string | null;
}

interface OutputFlags extends ApiFlags {
  json?: boolean;
  zone?: boolean;
}

const domainPath = (domain: string) => `/v1/domains/${encodeURIComponent(domain)}`;

function recordsTable(domain: DomainJson): string {
  return table([
    ['RECORD', 'TYPE', 'NAME', 'VALUE'],
    ...domain.records.map((r) => [`${r.purpose}${r.required ? '' : ' (optional)'}`, r.type, r.name, r.value]),
  ], '  ');
}

function checksTable(domain: DomainJson): string {
  return table([
    ['STATE', 'RECORD', 'TYPE', 'NAME', 'DETAIL'],
    ...domain.records.map((r) => [r.state, `${r.purpose}${r.required ? '' : ' (optional)'}`, r.type, r.name, r.detail ?? '']),
  ], '  ');
}

function zoneLines(domain: DomainJson): string {
  return domain.records.map((r) => `${r.required ? '' : '; optional\n'}${r.zone}`).join('\n');
}

function print(domain: DomainJson, flags: OutputFlags, text: () => string): void {
  if (flags.json) console.log(JSON.stringify(domain, null, 2));
  else if (flags.zone) console.log(zoneLines(domain));
  else console.log(text());
}

function summary(domain: DomainJson): string {
  const key = domain.dkim ? `, DKIM ${domain.dkim.algorithm} selector ${domain.dkim.selector}` : '';
  const pending = domain.keys.find((k) => k.state === 'pending');
  const rotation = pending ? `; rotating to selector ${pending.selector} (publish it beside the current one)` : '';
  return `${domain.name} (${domain.id}): ${domain.status}${key}${rotation}`;
}

const output = (command: Command): Command =>
  command.option('--json', 'print the API’s answer as JSON').option('--zone', 'print the records as zone-file lines');

export function registerDomainCommands(program: Command): void {
  const domains = program.command('domains').description('sending domains on a running Herald, over its HTTP API (--api-url, --key)');

  withApi(
    output(
      domains
        .command('add')
        .description('add a sending domain: makes its DKIM key and prints the DNS records to publish')
        .argument('<name>', 'the domain mail is sent from, e.g. example.com')
        .addOption(new Option('--algorithm <algorithm>', 'the DKIM key type').choices(['rsa', 'ed25519']))
        .option('--selector <selector>', 'the DKIM selector (default: herald<yyyymm>)'),
    ),
  ).action(
    run(async (name: string, flags: OutputFlags & { algorithm?: string; selector?: string }) => {
      const body = { name, ...(flags.algorithm ? { algorithm: flags.algorithm } : {}), ...(flags.selector ? { selector: flags.selector } : {}) };
      const domain = await clientOf(flags).json<DomainJson>('/v1/domains', { method: 'POST', json: body });
      print(domain, flags, () =>
        [
          `Added ${summary(domain)}.`,
          'Publish these records at your DNS host, then run `herald domains verify ' + domain.name + '`:',
          '',
          recordsTable(domain),
          '',
          'DKIM values longer than 255 characters go in one TXT record as several strings (see --zone).',
        ].join('\n'),
      );
    }),
  );

  withApi(
    domains
      .command('verify')
      .description('look the records up in DNS; exit 0 when the domain is verified, 2 when not yet')
      .argument('<domain>', 'domain name or id')
      .option('--json', 'print the API’s answer as JSON'),
  ).action(
    run(async (domain: string, flags: OutputFlags) => {
      const checked = await clientOf(flags).json<DomainJson>(`${domainPath(domain)}/verify`, { method: 'POST', json: {} });
      print(checked, flags, () =>
        [
          summary(checked),
          ...(checked.activated ? [`Signing switched to selector ${checked.activated}; leave the old record in DNS a few days.`] : []),
          '',
          checksTable(checked),
          ...(checked.status === 'verified' ? [] : ['', 'Not verified yet: fix the records above (DNS changes can take a while to show), then run this again.']),
        ].join('\n'),
      );
      if (checked.status !== 'verified') process.exitCode = 2;
    }),
  );

  withApi(domains.command('list').description('the workspace’s sending domains').option('--json', 'print the API’s answer as JSON')).action(
    run(async (flags: OutputFlags) => {
      const client = clientOf(flags);
      const all: DomainJson[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '?limit=1000' : `?limit=1000&cursor=${encodeURIComponent(cursor)}`;
        const page: { data: DomainJson[]; next_cursor: string | null } = await client.json(`/v1/domains${query}`);
        all.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor !== null);
      if (flags.json) return console.log(JSON.stringify(all, null, 2));
      if (all.length === 0) return console.log('No sending domains yet: add one with `herald domains add example.com`.');
      console.log(
        table([
          ['NAME', 'STATUS', 'SELECTOR', 'ALGORITHM', 'VERIFIED AT', 'ID'],
          ...all.map((d) => [d.name, d.status, d.dkim?.selector ?? '-', d.dkim?.algorithm ?? '-', d.verified_at ?? '-', d.id]),
        ], '  '),
      );
    }),
  );

  withApi(output(domains.command('show').description('a domain’s records and what the last check found').argument('<domain>', 'domain name or id'))).action(
    run(async (domain: string, flags: OutputFlags) => {
      const shown = await clientOf(flags).json<DomainJson>(domainPath(domain));
      print(shown, flags, () => [summary(shown), '', recordsTable(shown), '', checksTable(shown)].join('\n'));
    }),
  );

  withApi(
    output(
      domains
        .command('rotate')
        .description('start a DKIM key rotation (a new selector to publish beside the current one), or --complete / --cancel it')
        .argument('<domain>', 'domain name or id')
        .addOption(new Option('--algorithm <algorithm>', 'the new key’s type (default: the current one’s)').choices(['rsa', 'ed25519']))
        .option('--selector <selector>', 'the new selector')
        .option('--complete', 'switch signing to the pending key now (its record must be in DNS)')
        .option('--force', 'with --complete: switch even though DNS does not show the record yet')
        .option('--cancel', 'abandon the pending key'),
    ),
  ).action(
    run(async (domain: string, flags: OutputFlags & { algorithm?: string; selector?: string; complete?: boolean; force?: boolean; cancel?: boolean }) => {
      const client = clientOf(flags);
      const path = `${domainPath(domain)}/rotate`;
      const result = flags.cancel
        ? await client.json<DomainJson>(path, { method: 'DELETE' })
        : flags.complete
          ? await client.json<DomainJson>(`${path}/complete`, { method: 'POST', json: flags.force ? { force: true } : {} })
          : await client.json<DomainJson>(path, {
              method: 'POST',
              json: { ...(flags.algorithm ? { algorithm: flags.algorithm } : {}), ...(flags.selector ? { selector: flags.selector } : {}) },
            });
      print(result, flags, () => [summary(result), '', recordsTable(result)].join('\n'));
    }),
  );

  withApi(domains.command('remove').description('remove a sending domain and its keys; new mail from it is refused, queued mail from it fails').argument('<domain>', 'domain name or id')).action(
    run(async (domain: string, flags: ApiFlags) => {
      await clientOf(flags).request(domainPath(domain), { method: 'DELETE' });
      console.log(`Removed ${domain}.`);
    }),
  );
}
