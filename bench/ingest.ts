/**
 * `npm run bench`: webhook ingest throughput and latency of Switchboard (200 rules, inline status actions, SQLite)
 * against a baseline that only verifies each delivery with livekit-server-sdk. Each server runs in a child process;
 * the load comes from this one (see ingest-run.ts). Flags: --duration <s> --connections <n> --rate <events/s>
 * --rounds <n> --quick.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { positiveNumber, wholeNumber } from './flags.ts';
import { startInTurn, writeBenchRules, type IngestLoad, type ServerInTurn } from './ingest-run.ts';
import type { LoadResult } from './load.ts';
import { describeRun, formatNumber, markdownTable, median, verdict } from './report.ts';
import { switchboardEnvironment } from './server-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const THROUGHPUT_TARGET = 0.6;
const P99_TARGET_MS = 10;
// LiveKit's tokens live five minutes; every delivery of a run is signed just before it, and must outlive it.
const MAX_DURATION_S = 240;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const load: IngestLoad = {
  connections: wholeNumber('--connections', flags.connections ?? '16'),
  rate: positiveNumber('--rate', flags.rate ?? '1000'),
  duration: positiveNumber('--duration', flags.duration ?? (flags.quick ? '2' : '10')),
  warmupSeconds: flags.quick ? 1 : 3,
  credentials: { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') },
};
const rounds = wholeNumber('--rounds', flags.rounds ?? (flags.quick ? '1' : '3'));
if (load.duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
// However the benchmark ends, the temporary rules and database go with it (and the servers: see server-process.ts).
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
setTimeout(() => {
  console.error('benchmark watchdog: giving up after its time budget; the servers are stopped with it');
  process.exit(2);
}, (4 * rounds * load.duration + 300) * 1000).unref();

const rulesDir = join(workDir, 'rules');
const rulesNote = await writeBenchRules(rulesDir, ROOT);
const { apiKey, apiSecret } = load.credentials;
const servers = [
  { name: 'baseline', script: join(ROOT, 'bench/servers/baseline.ts'), env: { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret } },
  {
    name: 'switchboard',
    script: join(ROOT, 'bench/servers/switchboard.ts'),
    env: switchboardEnvironment({ credentials: load.credentials, rulesDir, pluginsDir: join(ROOT, 'plugins'), databaseUrl: `file:${join(workDir, 'bench.db')}` }),
    isSwitchboard: true,
  },
];
const header = [
  describeRun('bench'),
  `Switchboard: ${rulesNote}; SQLite in ${tmpdir()}, LOG_LEVEL=warn. Load: distinct signed events; max throughput, ${load.connections} requests in flight ` +
    `for ${load.duration} s (after a ${load.warmupSeconds} s warm-up); fixed rate, ${formatNumber(load.rate)} events/s open loop for ${load.duration} s; ` +
    `${rounds} rounds, the two servers in turns.`,
];
console.log(header.join('\n'));

// The servers run in turns, round after round (in the order given in odd rounds, reversed in even ones), so that a
// machine whose speed drifts from minute to minute treats them alike. Both stay up throughout; the one not loaded idles.
const started: ServerInTurn[] = [];
let foreignCores: number;
try {
  for (const server of servers) started.push(await startInTurn(server, load));
  const foreignCpu = startForeignCpuMeter([process.pid, ...started.map((server) => server.pid)]);
  for (const server of started) await server.warmUp();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? started : [...started].reverse();
    for (const server of order) console.log(`${server.name}: ${formatNumber((await server.atMaxThroughput()).eventsPerSecond)} events/s at max throughput`);
    for (const server of order) console.log(`${server.name}: p99 ${formatNumber((await server.atFixedRate()).latency.p99, 2)} ms at ${formatNumber(load.rate)} events/s`);
  }
  foreignCores = foreignCpu.read();
} finally {
  await Promise.all(started.map((server) => server.stop()));
}
report(started[0].runs, started[1].runs);
const problems = started.flatMap((server) => server.problems().map((problem) => `${server.name}: ${problem}`));
if (problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements of the success path:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}

function report(baseline: ServerInTurn['runs'], switchboard: ServerInTurn['runs']): void {
  const ms = (value: number) => formatNumber(value, 2);
  const medianOf = (runs: readonly LoadResult[], value: (run: LoadResult) => number) => median(runs.map(value));
  const row = (name: string, run: string, results: readonly LoadResult[]) => [
    name,
    run,
    formatNumber(medianOf(results, (result) => result.eventsPerSecond)),
    ms(medianOf(results, (result) => result.latency.p50)),
    ms(medianOf(results, (result) => result.latency.p99)),
    ms(medianOf(results, (result) => result.latency.max)),
    formatNumber(medianOf(results, (result) => result.cores.server), 2),
    formatNumber(medianOf(results, (result) => result.cores.serverMainThread), 2),
    formatNumber(medianOf(results, (result) => result.cores.generator), 2),
  ];
  const maxRun = `max, ${load.connections} conn`;
  const fixedRun = `${formatNumber(load.rate)}/s`;
  const medians = [
    ['server', 'run', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'server cores', 'main thread', 'load-gen cores'],
    row('baseline', maxRun, baseline.max),
    row('switchboard', maxRun, switchboard.max),
    row('baseline', fixedRun, baseline.fixed),
    row('switchboard', fixedRun, switchboard.fixed),
  ];
  const ratios = switchboard.max.map((run, round) => run.eventsPerSecond / baseline.max[round].eventsPerSecond);
  const eachRound = [
    ['round', 'baseline events/s', 'switchboard events/s', 'ratio', `baseline p99 ms at ${fixedRun}`, `switchboard p99 ms at ${fixedRun}`],
    ...ratios.map((ratio, round) => [
      String(round + 1),
      formatNumber(baseline.max[round].eventsPerSecond),
      formatNumber(switchboard.max[round].eventsPerSecond),
      `${formatNumber(ratio, 2)}×`,
      ms(baseline.fixed[round].latency.p99),
      ms(switchboard.fixed[round].latency.p99),
    ]),
  ];
  const ratio = median(ratios);
  const p99 = medianOf(switchboard.fixed, (result) => result.latency.p99);
  const stalls = (runs: readonly LoadResult[]) => ms(Math.max(...runs.map((run) => run.generatorMaxStallMs!)));
  const notes = [
    // Three decimals: at two, a median of 0.598 would read 0.60× beside its verdict, missed.
    `Throughput: Switchboard / baseline = ${formatNumber(ratio, 3)}×, the median of ${rounds} rounds' ratios ` +
      `(${formatNumber(Math.min(...ratios), 2)}–${formatNumber(Math.max(...ratios), 2)}×) (target ≥ ${THROUGHPUT_TARGET}×: ${verdict(ratio >= THROUGHPUT_TARGET)})`,
    `Latency at ${fixedRun}: Switchboard p99 = ${ms(p99)} ms, the median of ${rounds} runs (target ≤ ${P99_TARGET_MS} ms: ${verdict(p99 <= P99_TARGET_MS)}); ` +
      `the bare baseline's ${ms(medianOf(baseline.fixed, (result) => result.latency.p99))} ms`,
    `Fixed-rate latency counts from each request's due time; the load generator's longest own stall: ` +
      `${stalls(baseline.fixed)} ms (baseline runs), ${stalls(switchboard.fixed)} ms (Switchboard runs)`,
    describeForeignCpu(foreignCores, 'during the runs'),
  ];
  console.log(`\nFor docs/performance.md:\n\n${header.join('  \n')}\n\n${markdownTable(medians)}\n\n${markdownTable(eachRound)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}
