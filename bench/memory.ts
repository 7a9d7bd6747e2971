/**
 * `npm run bench:memory`: the resident memory of Switchboard as operators run it, the packed package installed into
 * a directory of its own and started with `switchboard serve`, on SQLite with the ingest benchmark's 200 rules: idle,
 * then each second of a run at `--rate` events/s (1,000) for `--duration` s (60; its tokens, all signed first, live
 * five minutes). The environment reaches the server (SQLITE_CACHE_MB, NODE_OPTIONS, MALLOC_ARENA_MAX).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFlags } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { installPackage, startInstalled, type Resident } from './installed-switchboard.ts';
import { runAtFixedRate } from './load.ts';
import { describeRun, formatNumber, printReport } from './report.ts';
import { prepareRun, ROOT } from './setup.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

const IDLE_SETTLE_MS = 5_000;

const flags = readFlags(['rate', 'duration']);
const rate = flags.number('rate', 1000);
const duration = flags.number('duration', 60);
const { workDir, credentials } = prepareRun('memory');
const { rulesDir, rulesNote } = await writeBenchRules(workDir, ROOT);
const server = await startInstalled(installPackage(join(workDir, 'app')), workDir, {
  LIVEKIT_API_KEY: credentials.apiKey,
  LIVEKIT_API_SECRET: credentials.apiSecret,
  RULES_DIR: rulesDir,
  DATABASE_URL: `file:${join(workDir, 'memory.db')}`,
});
await sleep(IDLE_SETTLE_MS);
const idle = server.resident();
const deliveries = await signBeforeRun(createEventSource(), Math.round(rate * duration), credentials);
let peak = idle;
const sample = () => {
  const now = server.resident();
  if (now.total > peak.total) peak = now;
};
const sampler = setInterval(sample, 1000);
const load = await runAtFixedRate({ servers: [server], rate, deliveries });
clearInterval(sampler);
sample();
const end = server.resident();
await server.stop();

const environment = ['SQLITE_CACHE_MB', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX'].filter((name) => process.env[name]).map((name) => `${name}=${process.env[name]}`);
const header = [
  describeRun('bench:memory'),
  `Setup: the packed package installed and started with \`switchboard serve\`; SQLite, ${rulesNote}` +
    `${environment.length > 0 ? `; ${environment.join(' ')}` : ''}; open loop at ${formatNumber(rate)} events/s for ${duration} s; RSS from /proc each second.`,
];
const mib = (value: number) => formatNumber(value, 1);
const row = (moment: string, memory: Resident) => [moment, mib(memory.total), formatNumber(memory.total * 1.048576, 1), mib(memory.anonymous), mib(memory.files)];
printReport(header, [
  [
    ['moment', 'RSS MiB', 'RSS MB', 'anonymous MiB', 'files MiB'],
    row('idle', idle),
    row(`peak at ${formatNumber(rate)}/s`, peak),
    row('end of the run', end),
  ],
  [['events acknowledged', 'non-2xx + errors'], [formatNumber(load.ok), formatNumber(load.non2xx + load.errors)]],
]);
