import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('starts from documented defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({ data: './.herald', host: '127.0.0.1', httpPort: 8080, smtpPort: 2525, role: 'all', maxMessageAge: 86400 });
    expect(config.relay).toBeUndefined();
  });

  it('lets a file, then the environment, then flags override', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-config-'));
    const file = join(dir, 'herald.json');
    writeFileSync(file, JSON.stringify({ httpPort: 9000, smtpPort: 2600, host: '0.0.0.0' }));
    const config = loadConfig({ configFile: file, env: { HERALD_HTTP_PORT: '9001', HERALD_SMTP_PORT: '2601' }, flags: { httpPort: '9002' } });
    expect(config).toMatchObject({ httpPort: 9002, smtpPort: 2601, host: '0.0.0.0' });
  });

  it('reads durations with units', () => {
    expect(loadConfig({ env: { HERALD_MAX_MESSAGE_AGE: '3d' } }).maxMessageAge).toBe(259200);
    expect(loadConfig({ env: { HERALD_RETRY_BASE: '500ms' } }).retryBase).toBe(0.5);
  });

  it('accepts DATABASE_URL as well as HERALD_DATABASE_URL', () => {
    expect(loadConfig({ env: { DATABASE_URL: 'postgres://localhost/test' } }).databaseUrl).toBe('postgres://localhost/test');
  });

  it.each([
    [{ flags: { httpPort: 'eighty' } }, /httpPort \(--http-port\): "eighty" is not a whole number/],
    [{ env: { HERALD_SMTP_PORT: '70000' } }, /smtpPort \(HERALD_SMTP_PORT\): 70000 is not a port/],
    [{ env: { HERALD_ROLE: 'boss' } }, /role \(HERALD_ROLE\): "boss" is not one of all, api, worker/],
    [{ env: { HERALD_RELAY: 'http://x' } }, /relay: must be an smtp:\/\/ or smtps:\/\/ URL/],
    [{ env: { HERALD_TLS_CERT: '/x.pem' } }, /tlsCert\/tlsKey/],
    [{ env: { HERALD_MAX_MESSAGE_AGE: 'soon' } }, /maxMessageAge \(HERALD_MAX_MESSAGE_AGE\): "soon" is not a duration/],
  ])('refuses to start on a bad value and names the setting (%j)', (sources, message) => {
    expect(() => loadConfig({ env: {}, ...sources })).toThrow(message);
  });

  it('refuses unknown keys in the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ httpPrt: 1 }));
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/httpPrt \(config file\): unknown setting/);
  });
});
