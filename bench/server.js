// Starts `herald serve --role api` on free ports in a data directory (or on a PostgreSQL URL), for the intake rows; reads
// the API URL and the first-start admin secret from its banner.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

export function startApiServer(dir, databaseUrl) {
  const store = databaseUrl ? ['--database-url', databaseUrl] : [];
  const child = spawn(process.execPath, [BIN, 'serve', '--role', 'api', '--data', dir, '--http-port', '0', '--smtp-port', '0', '--rate-limit', '0', ...store], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // The rows send from example.com, which is no verified sending domain: accept it (docs/domains.md).
    env: { ...process.env, HERALD_LOG_LEVEL: 'warn', HERALD_ALLOW_UNVERIFIED: '1' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const api = /API\s+(http:\/\/\S+)/.exec(out);
      const secret = /Key secret:\s+(\S+)/.exec(out);
      if (api && secret) resolve({ child, url: api[1], secret: secret[1] });
    });
    child.once('exit', (code) => reject(new Error(`herald exited ${code}: ${out}`)));
  });
}
