/**
 * `npm run bench:memory`: the resident memory (RSS, from /proc) of a checkout's Switchboard on SQLite with the ingest
 * benchmark's 200 rules, idle after start, then each second of a run at `--rate` events/s (default 1,000) for
 * `--duration` seconds (default 60; the issue's target is 5 minutes, the signing of LiveKit's tokens caps a run at
 * 240 s). `--baseline <checkout>` measures another checkout after this one, in the same run. `--node-flag <flag>`
 * (repeatable) starts the servers with a Node.js flag, e.g. `--node-flag=--max-semi-space-size=4`; the environment
 * reaches them too, e.g. SQLITE_CACHE_MB.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { signBeforeRun } from './delivery-run.ts';
import { positiveNumber } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { runAtFixedRate } from './load.ts';
import { describeRun, formatNumber, markdownTable, textTable } from './report.ts';
import { startServerProcess, switchboardEnvironment } from './server-process.ts';
import { createEventSource } from './webhook-events.ts';

const ROOT = resolve(import.meta.dirname, '..');
const IDLE_SETTLE_MS = 5_000;
const MiB = 1024 * 1024;

const { values: flags } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '60' },
    baseline: { type: 'string' },
    'node-flag': { type: 'string', multiple: true, default: [] },
  },
});
const rate = positiveNumber('--rate', flags.rate!);
const duration = positiveNumber('--duration', flags.duration!);
const checkouts = [{ name: 'this checkout', path: ROOT }, ...(flags.baseline ? [{ name: 'baseline', path: resolve(flags.baseline) }] : [])];
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-memory-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };

/** The process's resident memory, MiB. */
function rssMiB(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return (Number(kib) * 1024) / MiB;
}

const rows = [['checkout', 'idle MiB', `max MiB at ${formatNumber(rate)}/s`, 'MiB at the end', 'events acknowledged', 'non-2xx + errors']];
let rulesNote = '';
for (const checkout of checkouts) {
  const rulesDir = join(workDir, `rules-${rows.length}`);
  rulesNote = await writeBenchRules(rulesDir, checkout.path);
  const server = await startServerProcess(join(checkout.path, 'bench/servers/switchboard.ts'), {
    execArgv: flags['node-flag'],
    env: switchboardEnvironment({ credentials, rulesDir, pluginsDir: join(checkout.path, 'plugins'), databaseUrl: `file:${join(workDir, `memory-${rows.length}.db`)}` }),
  });
  const client = new KeepAliveClient(new URL(server.url));
  try {
    await sleep(IDLE_SETTLE_MS);
    const idle = rssMiB(server.pid);
    const deliveries = await signBeforeRun(createEventSource(), Math.round(rate * duration), credentials);
    let max = idle;
    const sampler = setInterval(() => (max = Math.max(max, rssMiB(server.pid))), 1000);
    const load = await runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration, deliveries, client });
    clearInterval(sampler);
    const end = rssMiB(server.pid);
    rows.push([checkout.name, formatNumber(idle, 1), formatNumber(Math.max(max, end), 1), formatNumber(end, 1), formatNumber(load.ok), formatNumber(load.non2xx + load.errors)]);
    console.log(`${checkout.name}: idle ${formatNumber(idle, 1)} MiB, max ${formatNumber(max, 1)} MiB`);
  } finally {
    client.destroy();
    await server.stop();
  }
}
const nodeFlags = flags['node-flag']!.length > 0 ? `; server flags ${flags['node-flag']!.join(' ')}` : '';
const cache = process.env.SQLITE_CACHE_MB ? `; SQLITE_CACHE_MB=${process.env.SQLITE_CACHE_MB}` : '';
const header = `${describeRun('bench:memory')}\nSetup: SQLite, ${rulesNote}${cache}${nodeFlags}; open loop at ${formatNumber(rate)} events/s for ${duration} s; RSS from /proc each second.`;
console.log(`\n${header}\n\n${textTable(rows)}\n\nFor docs/performance.md:\n\n${header.replace('\n', '  \n')}\n\n${markdownTable(rows)}`);
