// What the machine can sign: crypto.sign with RSA-2048 (SHA-256) on every core at once, over a
// signature's worth of data, for a fixed time. The DKIM row is compared with this.
import { generateKeyPairSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const key = createPrivateKey(workerData.pem);
const data = Buffer.alloc(600, 'h');
const until = Date.now() + workerData.ms;
let n = 0;
while (Date.now() < until) { sign('sha256', data, key); n++; }
parentPort.postMessage(n);
`;

export function rsaPrivatePem() {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export async function cryptoSignAllCores({ pem, seconds = 3 }) {
  const threads = availableParallelism();
  const counts = await Promise.all(
    Array.from({ length: threads }, () => new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { pem, ms: seconds * 1000 } });
      worker.once('message', (n) => { resolve(n); void worker.terminate(); });
      worker.once('error', reject);
    })),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  return { threads, rate: total / seconds };
}
