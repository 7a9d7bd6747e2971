/**
 * `npm run bench:memory`: the resident memory (RSS, from /proc) of a checkout's Switchboard on SQLite with the
 * ingest benchmark's 200 rules, idle after start, then each second of a run at `--rate` events/s (default 1,000)
 * for `--duration` seconds (default 60; every token is signed before the run and lives five minutes, so a run much
 * over 300 s fails). `--baseline <checkout>` measures another checkout after this one. `--node-flag <flag>`
 * (repeatable) starts the servers with a Node.js flag, e.g. `--node-flag=--max-semi-space-size=4`; the environment
 * reaches them too, e.g. SQLITE_CACHE_MB.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFlags } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { runAtFixedRate } from './load.ts';
import { describeRun, formatNumber, printReport } from './report.ts';
import { startSwitchboard } from './server-process.ts';
import { prepareRun, ROOT } from './setup.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

const IDLE_SETTLE_MS = 5_000;

const flags = readFlags(['rate', 'duration', 'baseline', 'node-flag']);
const rate = flags.number('rate', 1000);
const duration = flags.number('duration', 60);
const baseline = flags.text('baseline');
const nodeFlags = flags.all('node-flag');
const checkouts = [{ name: 'this checkout', path: ROOT }, ...(baseline ? [{ name: 'baseline', path: resolve(baseline) }] : [])];
const { workDir, credentials } = prepareRun('memory');

/** The process's resident memory, MiB. */
function rssMiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

const rows = [['checkout', 'idle MiB', `max MiB at ${formatNumber(rate)}/s`, 'MiB at the end', 'events acknowledged', 'non-2xx + errors']];
let rulesNote = '';
for (const [index, checkout] of checkouts.entries()) {
  const rulesDir = join(workDir, `rules-${index}`);
  rulesNote = await writeBenchRules(rulesDir, checkout.path);
  const databaseUrl = `file:${join(workDir, `memory-${index}.db`)}`;
  const server = await startSwitchboard(checkout.path, { credentials, rulesDir, databaseUrl, execArgv: nodeFlags });
  await sleep(IDLE_SETTLE_MS);
  const idle = rssMiB(server.pid);
  const deliveries = await signBeforeRun(createEventSource(), Math.round(rate * duration), credentials);
  let max = idle;
  const sampler = setInterval(() => (max = Math.max(max, rssMiB(server.pid))), 1000);
  const load = await runAtFixedRate({ servers: [server], rate, deliveries });
  clearInterval(sampler);
  const end = rssMiB(server.pid);
  await server.stop();
  rows.push([checkout.name, formatNumber(idle, 1), formatNumber(Math.max(max, end), 1), formatNumber(end, 1), formatNumber(load.ok), formatNumber(load.non2xx + load.errors)]);
  console.log(`${checkout.name}: idle ${formatNumber(idle, 1)} MiB, max ${formatNumber(max, 1)} MiB`);
}
const cache = process.env.SQLITE_CACHE_MB ? `; SQLITE_CACHE_MB=${process.env.SQLITE_CACHE_MB}` : '';
const flagsNote = nodeFlags.length > 0 ? `; server flags ${nodeFlags.join(' ')}` : '';
printReport([
  describeRun('bench:memory'),
  `Setup: SQLite, ${rulesNote}${cache}${flagsNote}; open loop at ${formatNumber(rate)} events/s for ${duration} s; RSS from /proc each second.`,
], [rows]);
