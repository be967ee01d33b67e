// Starts `herald serve --role api` on free ports in a data directory, for the intake rows; reads
// the API URL and the first-start admin secret from its banner.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

export function startApiServer(dir) {
  const child = spawn(process.execPath, [BIN, 'serve', '--role', 'api', '--data', dir, '--http-port', '0', '--smtp-port', '0', '--rate-limit', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HERALD_LOG_LEVEL: 'warn' },
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
