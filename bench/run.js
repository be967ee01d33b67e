// `npm run bench`: Herald beside a baseline measured in the same run, on the same machine, to the
// same sink. Every loop is bounded in count and time. Options: --messages N (default 20000),
// --seconds S for the API run (default 5), --only api,delivery, --sink auto|node (auto: Postfix's
// smtp-sink when installed).
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { heraldApi } from './api.js';
import { nodemailerPool } from './baseline.js';
import { heraldDelivery } from './delivery.js';
import { startSink } from './sink.js';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '5' }, only: { type: 'string', default: 'api,delivery' }, sink: { type: 'string', default: 'auto' } },
});
const messages = Number(values.messages);
const only = new Set(values.only.split(','));
const deadlineMs = 120_000;
const connections = 4;

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const rows = [];
const sink = await startSink(values.sink);
console.log(`Herald bench: ${cpus().length} cores, Node ${process.version}, sink: ${sink.kind}, ${messages} messages, ${connections} SMTP connections each\n`);
try {
  const baseline = await nodemailerPool({ port: sink.port, messages, connections, deadlineMs });
  rows.push(['nodemailer pool → sink (baseline)', `${fmt(baseline.rate)} msg/s`, '', '1.00×', `${baseline.sent} sent in ${baseline.seconds.toFixed(2)} s`]);
  if (only.has('delivery')) {
    const herald = await heraldDelivery({ port: sink.port, messages, connections, deadlineMs });
    rows.push(['relay delivery: queued → sent → recorded', `${fmt(herald.rate)} msg/s`, `${fmt(baseline.rate)} msg/s`, `${(herald.rate / baseline.rate).toFixed(2)}×`, `${herald.sent} sent in ${herald.seconds.toFixed(2)} s`]);
  }
  if (only.has('api')) {
    const api = await heraldApi({ seconds: Number(values.seconds), connections: 32 });
    rows.push(['API intake: POST /v1/emails → 202 (fsync)', `${fmt(api.rate)} msg/s`, `${fmt(baseline.rate)} msg/s`, `${(api.rate / baseline.rate).toFixed(2)}×`, `p99 ${api.p99} ms, ${api.errors} non-2xx`]);
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
