/**
 * Sending domains as an operator meets them: a real `herald serve` delivering direct to MX (so
 * From domains are checked), a loopback DNS server as the world's DNS (`--dns-servers`), and
 * `herald domains add|verify|list` as child processes. Mail from the domain is refused until it
 * verifies, then leaves signed with its key, and the signature verifies against DNS.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { txtStrings } from '../../src/services/domain-records.js';
import { verifyDkimWithDns } from '../helpers/dkim-verify.js';
import { startDnsServer, type TestDnsServer, type ZoneEntry } from '../helpers/dns-server.js';
import { backends, tempDir } from '../helpers/harness.js';
import { REPO_ROOT, runHerald as cli, startHerald, type HeraldProcess } from '../helpers/herald-process.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait.js';

const BIN = `${REPO_ROOT}bin/herald.js`;


interface RecordJson {
  purpose: string;
  type: string;
  name: string;
  value: string;
}

// A whole process on the default (SQLite) store; the PostgreSQL pass skips it.
describe.runIf(backends().includes('sqlite'))('herald domains (CLI against a running server that delivers to MX)', () => {
  const data = tempDir();
  const zones: Record<string, ZoneEntry> = { 'example.org': { mx: [[10, 'mx.example.org']] }, 'mx.example.org': { a: ['127.0.0.1'] } };
  let dns: TestDnsServer;
  let sink: SmtpSink;
  let server: HeraldProcess;
  let env: NodeJS.ProcessEnv;
  let records: RecordJson[] = [];

  const send = (from: string) =>
    fetch(`${server.apiUrl}/v1/emails`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from, to: 'reader@example.org', subject: 'From a sending domain', text: 'Signed, I hope.' }),
    });

  beforeAll(async () => {
    dns = await startDnsServer(zones);
    sink = await startSmtpSink();
    server = await startHerald({
      args: [
        BIN, 'serve', '--data', data.path, '--http-port', '0', '--smtp-port', '0', '--deliver', 'mx', '--mx-port', String(sink.port),
        '--allow-private-mx', 'true', '--dns-servers', dns.address, '--helo-name', 'herald.test', '--return-path-host', 'mta.herald.test',
      ],
      env: { HERALD_ALLOW_UNVERIFIED: '0' },
    });
    env = { HERALD_API_URL: server.apiUrl, HERALD_API_KEY: server.secret ?? '' };
  }, 60_000);

  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await sink?.close();
    await dns?.close();
    data.remove();
  });

  it('adds a domain and prints the records to publish; the master key is generated into the data directory', async () => {
    const run = await cli(['domains', 'add', 'cli.example.com', '--algorithm', 'ed25519', '--selector', 'cli1'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Added cli\.example\.com \(dom_\w+\): pending, DKIM ed25519 selector cli1\.$/m);
    expect(run.stdout).toMatch(/^\s+RECORD\s+TYPE\s+NAME\s+VALUE$/m);
    expect(run.stdout).toMatch(/^\s+dkim\s+TXT\s+cli1\._domainkey\.cli\.example\.com\s+v=DKIM1; k=ed25519; p=\S+$/m);
    expect(run.stdout).toMatch(/^\s+return_path\s+CNAME\s+bounces\.cli\.example\.com\s+mta\.herald\.test$/m);
    expect(run.stdout).toMatch(/^\s+dmarc \(optional\)\s+TXT/m);
    expect(statSync(join(data.path, 'master.key')).mode & 0o777).toBe(0o600);

    const shown = await cli(['domains', 'show', 'cli.example.com', '--json'], env);
    expect(shown.code, shown.stderr).toBe(0);
    records = (JSON.parse(shown.stdout) as { records: RecordJson[] }).records;
    expect(records.map((r) => r.purpose)).toEqual(['dkim', 'spf', 'return_path', 'dmarc', 'tracking']);
    const zone = await cli(['domains', 'show', 'cli.example.com', '--zone'], env);
    expect(zone.stdout).toMatch(/^cli1\._domainkey\.cli\.example\.com\. 3600 IN TXT "v=DKIM1; k=ed25519; p=\S+"$/m);
  });

  it('refuses bad input and unknown domains with one line and exit code 1', async () => {
    const bad = await cli(['domains', 'add', 'not a domain'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^herald: validation_failed: name: "not a domain" is not a domain name/m);
    const dup = await cli(['domains', 'add', 'cli.example.com'], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/conflict: domain cli\.example\.com already exists \(HTTP 409\)/);
    const unknown = await cli(['domains', 'verify', 'nope.example.com'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not_found: domain nope\.example\.com not found/);
  });

  it('refuses mail from the domain until verify finds its records (exit 2, then 0); then mail leaves signed', async () => {
    const refused = await send('News <news@cli.example.com>');
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('domain_not_verified');

    const early = await cli(['domains', 'verify', 'cli.example.com'], env);
    expect(early.code, early.stderr).toBe(2);
    expect(early.stdout).toMatch(/^\s+missing\s+dkim\s+TXT\s+cli1\._domainkey\.cli\.example\.com\s+no such name/m);
    expect(early.stdout).toContain('Not verified yet');

    for (const r of records.filter((x) => x.purpose !== 'tracking')) {
      if (r.type === 'CNAME') zones[r.name] = { cname: r.value };
      else zones[r.name] = { ...zones[r.name], txt: [...(zones[r.name]?.txt ?? []), txtStrings(r.value)] };
    }
    const done = await cli(['domains', 'verify', 'cli.example.com'], env);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^cli\.example\.com \(dom_\w+\): verified/m);
    expect(done.stdout).toMatch(/^\s+verified\s+spf\s+TXT\s+cli\.example\.com\s+includes mta\.herald\.test$/m);

    const list = await cli(['domains', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^\s+cli\.example\.com\s+verified\s+cli1\s+ed25519\s+\d{4}-/m);

    const accepted = await send('News <news@cli.example.com>');
    expect(accepted.status).toBe(202);
    const mail = await waitFor('the message at the MX', () => sink.received.find((m) => m.raw.includes('From a sending domain')), 20_000);
    expect(mail.raw).toMatch(/^DKIM-Signature: v=1; a=ed25519-sha256;/);
    const verdicts = await verifyDkimWithDns(mail.raw, [dns.address]);
    expect(verdicts).toEqual([expect.objectContaining({ signingDomain: 'cli.example.com', selector: 'cli1', status: expect.objectContaining({ result: 'pass' }) })]);
  });
});
