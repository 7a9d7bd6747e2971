/**
 * `npm run bench:memory`: Switchboard's RSS with the ingest benchmark's 200 rules on SQLite, idle, then each second of
 * a run at `--rate` events/s (1,000) for `--duration` s (60; its tokens, all signed first, live five minutes).
 * `--node-flag <flag>` (repeatable) starts the server with a Node.js flag; the environment (SQLITE_CACHE_MB) reaches
 * it too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFlags } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { runAtFixedRate } from './load.ts';
import { describeRun, formatNumber, printReport } from './report.ts';
import { prepareRun, ROOT, startSwitchboard } from './setup.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

const IDLE_SETTLE_MS = 5_000;

const flags = readFlags(['rate', 'duration', 'node-flag']);
const rate = flags.number('rate', 1000);
const duration = flags.number('duration', 60);
const nodeFlags = flags.all('node-flag');
const { workDir, credentials } = prepareRun('memory');
const { rulesDir, rulesNote } = await writeBenchRules(workDir, ROOT);
const server = await startSwitchboard(ROOT, { credentials, rulesDir, databaseUrl: `file:${join(workDir, 'memory.db')}`, execArgv: nodeFlags });
/** The server's resident memory, MiB. */
const rssMiB = () => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1]) / 1024;

await sleep(IDLE_SETTLE_MS);
const idle = rssMiB();
const deliveries = await signBeforeRun(createEventSource(), Math.round(rate * duration), credentials);
let max = idle;
const sampler = setInterval(() => (max = Math.max(max, rssMiB())), 1000);
const load = await runAtFixedRate({ servers: [server], rate, deliveries });
clearInterval(sampler);
const end = rssMiB();
await server.stop();

const cache = process.env.SQLITE_CACHE_MB ? `; SQLITE_CACHE_MB=${process.env.SQLITE_CACHE_MB}` : '';
const flagsNote = nodeFlags.length > 0 ? `; server flags ${nodeFlags.join(' ')}` : '';
const header = [
  describeRun('bench:memory'),
  `Setup: SQLite, ${rulesNote}${cache}${flagsNote}; open loop at ${formatNumber(rate)} events/s for ${duration} s; RSS from /proc each second.`,
];
const mib = (value: number) => formatNumber(value, 1);
printReport(header, [[
  ['checkout', 'idle MiB', `max MiB at ${formatNumber(rate)}/s`, 'MiB at the end', 'events acknowledged', 'non-2xx + errors'],
  ['this checkout', mib(idle), mib(Math.max(max, end)), mib(end), formatNumber(load.ok), formatNumber(load.non2xx + load.errors)],
]]);
