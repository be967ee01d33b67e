// `npm run bench`: Herald beside a baseline measured in the same run, on the same machine, to the
// same sink. Every loop is bounded in count and time.
//   --messages N    messages per delivery row (default 20000)
//   --seconds S     length of the API intake run (default 5)
//   --only LIST     rows to run: api,delivery,batch,dkim,accept (default: all)
//   --accept N      recipients for the NDJSON accept row (default 200000; 1000000 for the figure)
//   --sink KIND     auto (Postfix smtp-sink when installed) or node
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { heraldApi } from './api.js';
import { nodemailerPool } from './baseline.js';
import { heraldBatch } from './batch.js';
import { heraldDelivery } from './delivery.js';
import { acceptNdjson } from './accept.js';
import { cryptoSignAllCores, rsaPrivatePem } from './sign-baseline.js';
import { startSink } from './sink.js';
import { DkimSignerPool } from '../dist/mime/dkim-pool.js';
import { MessageSigner } from '../dist/engine/message-signer.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '5' },
    only: { type: 'string', default: 'api,delivery,batch,dkim,accept' },
    accept: { type: 'string', default: '200000' },
    sink: { type: 'string', default: 'auto' },
  },
});
const messages = Number(values.messages);
const only = new Set(values.only.split(','));
const deadlineMs = 180_000;
const connections = 4;

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const mb = (bytes) => `${Math.round(bytes / 1024 / 1024)} MB`;
const rows = [];
const sink = await startSink(values.sink);
console.log(`Herald bench: ${cpus().length} cores, Node ${process.version}, sink: ${sink.kind}, ${messages} messages, ${connections} SMTP connections each\n`);
try {
  const baseline = await nodemailerPool({ port: sink.port, messages, connections, deadlineMs });
  const vs = (rate) => [`${fmt(baseline.rate)} msg/s`, `${(rate / baseline.rate).toFixed(2)}×`];
  rows.push(['nodemailer pool → sink (baseline)', `${fmt(baseline.rate)} msg/s`, '', '1.00×', `${baseline.sent} sent in ${baseline.seconds.toFixed(2)} s`]);
  if (only.has('batch')) {
    const batch = await heraldBatch({ port: sink.port, messages, connections, deadlineMs });
    rows.push(['personalised batch: accepted → sent → recorded', `${fmt(batch.rate)} msg/s`, ...vs(batch.rate), `${batch.sent} sent in ${batch.seconds.toFixed(2)} s; accepted in ${batch.acceptSeconds.toFixed(2)} s; peak RSS ${mb(batch.peakRss)}`]);
  }
  if (only.has('delivery')) {
    const herald = await heraldDelivery({ port: sink.port, messages, connections, deadlineMs });
    rows.push(['relay delivery (same content): queued → sent → recorded', `${fmt(herald.rate)} msg/s`, ...vs(herald.rate), `${herald.sent} sent in ${herald.seconds.toFixed(2)} s`]);
  }
  if (only.has('dkim')) {
    const pem = rsaPrivatePem();
    const ceiling = await cryptoSignAllCores({ pem, seconds: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'herald-bench-dkim-'));
    const signer = new MessageSigner(new DkimSignerPool({}), { keysFor: (d) => (d === 'example.com' ? [{ domain: 'example.com', selector: 'bench', algorithm: 'rsa-sha256', privateKey: pem }] : []) });
    const signed = await heraldBatch({ port: sink.port, messages: Math.min(messages, 10000), connections, deadlineMs, signer });
    rmSync(dir, { recursive: true, force: true });
    rows.push([`crypto.sign RSA-2048 on ${ceiling.threads} threads (ceiling)`, `${fmt(ceiling.rate)} sig/s`, '', '', 'signing only, no mail']);
    rows.push(['personalised batch, DKIM RSA-2048', `${fmt(signed.rate)} msg/s`, `${fmt(ceiling.rate)} sig/s`, `${((signed.rate / ceiling.rate) * 100).toFixed(0)}%`, `${signed.sent} signed and sent in ${signed.seconds.toFixed(2)} s`]);
  }
  if (only.has('api')) {
    const api = await heraldApi({ seconds: Number(values.seconds), connections: 32 });
    rows.push(['API intake: POST /v1/emails → 202 (fsync)', `${fmt(api.rate)} msg/s`, ...vs(api.rate), `p99 ${api.p99} ms, ${api.errors} non-2xx`]);
  }
  if (only.has('accept')) {
    const accepted = await acceptNdjson({ recipients: Number(values.accept) });
    rows.push([`batch accept: ${Number(values.accept).toLocaleString('en-US')} recipients as NDJSON → 202`, `${accepted.seconds.toFixed(1)} s`, '', '', `${fmt(accepted.rate)} rows/s; server peak RSS ${mb(accepted.peakRss)}`]);
  }
} finally {
  await sink.close();
}
const header = ['scenario', 'Herald', 'baseline', 'ratio', 'detail'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of rows) console.log(line(row));
