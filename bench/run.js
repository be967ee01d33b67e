// `npm run bench`: Herald beside a baseline measured in the same run, on the same machine, to the
// same sink. Every loop is bounded in count and time.
//   --messages N    messages per delivery row (default 20000)
//   --seconds S     length of the API intake run (default 5)
//   --only LIST     rows to run: api,delivery,batch,dkim,accept (default: all)
//   --accept N      recipients for the NDJSON accept row (default 200000; 1000000 for the issue's figure)
//   --sink KIND     auto (Postfix smtp-sink when installed) or node
//   --postgres URL  the PostgreSQL column's database (a fresh schema per row; default the local
//                   test database), or `none` to leave the column out
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { heraldApi } from './api.js';
import { nodemailerPool } from './baseline.js';
import { heraldBatch } from './batch.js';
import { heraldDelivery } from './delivery.js';
import { acceptNdjson } from './accept.js';
import { cryptoSignAllCores, rsaPrivatePem } from './sign-baseline.js';
import { startSink } from './sink.js';
import { postgresUnavailable } from './stores.js';
import { DkimSignerPool } from '../dist/mime/dkim-pool.js';
import { MessageSigner } from '../dist/engine/message-signer.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '5' },
    only: { type: 'string', default: 'api,delivery,batch,dkim,accept' },
    accept: { type: 'string', default: '200000' },
    sink: { type: 'string', default: 'auto' },
    postgres: { type: 'string', default: process.env.HERALD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
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
const pgUrl = values.postgres === 'none' ? null : values.postgres;
const pgMissing = pgUrl === null ? 'left out (--postgres none)' : await postgresUnavailable(pgUrl);
const onPg = pgMissing === null;
console.log(`Herald bench: ${cpus().length} cores, Node ${process.version}, sink: ${sink.kind}, ${messages} messages, ${connections} SMTP connections each`);
console.log(`PostgreSQL column: ${onPg ? pgUrl.replace(/\/\/[^@]*@/, '//') : `none (${pgMissing})`}\n`);
/** Runs a row on SQLite, then on PostgreSQL when there is one. */
async function both(run) {
  const sqlite = await run('sqlite');
  const postgres = onPg ? await run(pgUrl) : null;
  return { sqlite, postgres };
}
try {
  const baseline = await nodemailerPool({ port: sink.port, messages, connections, deadlineMs });
  const ratio = (rate) => (rate === undefined ? '' : `${(rate / baseline.rate).toFixed(2)}×`);
  const rated = (label, r, detail) => rows.push([label, `${fmt(r.sqlite.rate)} msg/s`, r.postgres ? `${fmt(r.postgres.rate)} msg/s` : '', `${fmt(baseline.rate)} msg/s`, ratio(r.sqlite.rate), ratio(r.postgres?.rate), detail]);
  rows.push(['nodemailer pool → sink (baseline)', '', '', `${fmt(baseline.rate)} msg/s`, '', '', `${baseline.sent} sent in ${baseline.seconds.toFixed(2)} s`]);
  if (only.has('batch')) {
    const r = await both((store) => heraldBatch({ port: sink.port, messages, connections, deadlineMs, store }));
    rated('personalised batch: accepted → sent → recorded', r, `${r.sqlite.sent} sent; accepted in ${r.sqlite.acceptSeconds.toFixed(2)} s${r.postgres ? ` (PostgreSQL ${r.postgres.acceptSeconds.toFixed(2)} s)` : ''}; peak RSS ${mb(r.sqlite.peakRss)}`);
  }
  if (only.has('delivery')) {
    const r = await both((store) => heraldDelivery({ port: sink.port, messages, connections, deadlineMs, store }));
    rated('relay delivery (same content): queued → sent → recorded', r, `${r.sqlite.sent} sent in ${r.sqlite.seconds.toFixed(2)} s`);
  }
  if (only.has('dkim')) {
    const pem = rsaPrivatePem();
    const ceiling = await cryptoSignAllCores({ pem, seconds: 3 });
    const signer = new MessageSigner(new DkimSignerPool({}), { keysFor: (d) => (d === 'example.com' ? [{ domain: 'example.com', selector: 'bench', algorithm: 'rsa-sha256', privateKey: pem }] : []) });
    const signed = await heraldBatch({ port: sink.port, messages: Math.min(messages, 10000), connections, deadlineMs, signer });
    rows.push([`crypto.sign RSA-2048 on ${ceiling.threads} threads (ceiling)`, `${fmt(ceiling.rate)} sig/s`, '', '', '', '', 'signing only, no mail']);
    rows.push(['personalised batch, DKIM RSA-2048', `${fmt(signed.rate)} msg/s`, '', `${fmt(ceiling.rate)} sig/s`, `${((signed.rate / ceiling.rate) * 100).toFixed(0)}%`, '', `${signed.sent} signed and sent in ${signed.seconds.toFixed(2)} s (vs the ceiling)`]);
  }
  if (only.has('api')) {
    const r = await both((store) => heraldApi({ seconds: Number(values.seconds), connections: 32, store }));
    rated('API intake: POST /v1/emails → 202 (durable)', r, `p99 ${r.sqlite.p99} ms${r.postgres ? ` (PostgreSQL ${r.postgres.p99} ms)` : ''}, ${r.sqlite.errors + (r.postgres?.errors ?? 0)} non-2xx`);
  }
  if (only.has('accept')) {
    const n = Number(values.accept);
    const r = await both((store) => acceptNdjson({ recipients: n, store }));
    rows.push([`batch accept: ${n.toLocaleString('en-US')} recipients as NDJSON → 202`, `${r.sqlite.seconds.toFixed(1)} s`, r.postgres ? `${r.postgres.seconds.toFixed(1)} s` : '', '', '', '', `${fmt(r.sqlite.rate)} rows/s${r.postgres ? ` (PostgreSQL ${fmt(r.postgres.rate)})` : ''}; server peak RSS ${mb(r.sqlite.peakRss)}${r.postgres ? ` (PostgreSQL ${mb(r.postgres.peakRss)})` : ''}`]);
  }
} finally {
  await sink.close();
}
const header = ['scenario', 'Herald (SQLite)', 'Herald (PostgreSQL)', 'baseline', 'ratio', 'ratio (PostgreSQL)', 'detail'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of rows) console.log(line(row));
