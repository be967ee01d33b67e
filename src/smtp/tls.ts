/**
 * TLS material for the SMTP relay's STARTTLS: the configured certificate and key, or a
 * self-signed pair generated once into `<data>/tls/` and reused on every later start, so clients
 * that pin it keep working.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { HeraldError } from '../core/errors.js';

export interface TlsMaterial {
  key: string;
  cert: string;
  selfSigned: boolean;
}

export interface TlsOptions {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
}

function readPem(field: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new HeraldError('invalid_config', { field, reason: `cannot read ${path}: ${(error as Error).message}` });
  }
}

export function loadTlsMaterial(options: TlsOptions): TlsMaterial {
  if (options.certFile !== undefined && options.keyFile !== undefined) {
    return { cert: readPem('tlsCert', options.certFile), key: readPem('tlsKey', options.keyFile), selfSigned: false };
  }
  const dir = join(options.dataDir, 'tls');
  const certPath = join(dir, 'smtp-cert.pem');
  const keyPath = join(dir, 'smtp-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), selfSigned: true };
  }
  const name = hostname();
  const pair = selfsigned.generate([{ name: 'commonName', value: name }], {
    days: 3650,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyPath, pair.private, { mode: 0o600 });
  writeFileSync(certPath, pair.cert);
  return { cert: pair.cert, key: pair.private, selfSigned: true };
}
