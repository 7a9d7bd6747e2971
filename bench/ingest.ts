/**
 * `npm run bench`: webhook ingest throughput and latency of Switchboard (200 rules, inline status actions, SQLite)
 * against a baseline that only verifies each delivery with livekit-server-sdk, each in a child process, in turns.
 * `--postgres` adds Switchboard on PostgreSQL (SWITCHBOARD_TEST_PG_URL, a fresh schema) to the turns: its events/s at
 * saturation against SQLite's in the same run.
 * Flags: --duration <s> (default 10) --rounds <n> (default 3) --quick (1 round of 2 s) --postgres.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { readFlags } from './flags.ts';
import { CONNECTIONS, ingestRuns, RATE, writeBenchRules, type IngestLoad } from './ingest-run.ts';
import type { LoadResult } from './load.ts';
import { describeRun, failOn, formatMs, formatNumber, median, printReport, verdict } from './report.ts';
import { freshDatabase, prepareRun, ROOT, startBaseline, startSwitchboard } from './setup.ts';

type Runs = { max: LoadResult[]; fixed: LoadResult[] };

const THROUGHPUT_TARGET = 0.6;
const POSTGRES_TO_SQLITE_TARGET = 0.6;
const P99_TARGET_MS = 10;
// LiveKit's tokens live five minutes; every delivery of a run is signed just before it, and must outlive it.
const MAX_DURATION_S = 240;

const flags = readFlags(['duration', 'rounds'], ['quick', 'postgres']);
const quick = flags.on('quick');
const withPostgres = flags.on('postgres');
const { workDir, credentials } = prepareRun('bench');
const load: IngestLoad = { duration: flags.number('duration', quick ? 2 : 10), warmupSeconds: quick ? 1 : 3, credentials };
const rounds = flags.number('rounds', quick ? 1 : 3, true);
if (load.duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);
setTimeout(() => {
  console.error('benchmark watchdog: giving up after its time budget; the servers are stopped with it');
  process.exit(2);
}, ((withPostgres ? 6 : 4) * rounds * load.duration + 300) * 1000).unref();

const { rulesDir, rulesNote } = await writeBenchRules(workDir, ROOT);
const fixedRun = `${formatNumber(RATE)}/s`;
const header = [
  describeRun('bench'),
  `Switchboard: ${rulesNote}; SQLite in ${tmpdir()}, LOG_LEVEL=warn. Load: distinct signed events; max throughput, ${CONNECTIONS} requests in flight ` +
    `for ${load.duration} s (after a ${load.warmupSeconds} s warm-up); fixed rate, ${formatNumber(RATE)} events/s open loop for ${load.duration} s; ` +
    `${rounds} rounds, the ${withPostgres ? 'three servers (the third Switchboard on PostgreSQL)' : 'two servers'} in turns.`,
];
console.log(header.join('\n'));

// In turns, round after round (in this order in odd rounds, reversed in even ones), so that a machine whose speed
// drifts treats them alike. Both stay up throughout; the one not loaded idles. (A failed run's servers are killed
// as the benchmark exits.)
const databaseUrl = `file:${join(workDir, 'bench.db')}`;
const servers = [await startBaseline(credentials), await startSwitchboard(ROOT, { credentials, rulesDir, databaseUrl })];
const baseline = ingestRuns('baseline', servers[0], load, false);
const switchboard = ingestRuns('switchboard', servers[1], load, true);
const postgresDatabase = withPostgres ? await freshDatabase('postgres', workDir) : undefined;
if (postgresDatabase) servers.push(await startSwitchboard(ROOT, { credentials, rulesDir, databaseUrl: postgresDatabase.url }));
const onPostgres = postgresDatabase && ingestRuns('switchboard-postgres', servers[2], load, true);
const measured = onPostgres ? [baseline, switchboard, onPostgres] : [baseline, switchboard];
const foreignCpu = startForeignCpuMeter([process.pid, ...servers.map((server) => server.pid)]);
// PostgreSQL's own processes are foreign to the benchmark: during the PostgreSQL runs, they are most of it.
const postgresCores: number[] = [];
const meteringForeign = async <T>(server: (typeof measured)[number], run: () => Promise<T>): Promise<T> => {
  if (server !== onPostgres) return run();
  const meter = startForeignCpuMeter([process.pid, ...servers.map((child) => child.pid)]);
  const result = await run();
  postgresCores.push(meter.read());
  return result;
};
for (const server of measured) await server.warmUp();
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? measured : measured.toReversed();
  for (const server of order) {
    const run = await meteringForeign(server, () => server.atMaxThroughput());
    console.log(`${server.name}: ${formatNumber(run.eventsPerSecond)} events/s at max throughput`);
  }
  for (const server of order) console.log(`${server.name}: p99 ${formatMs((await server.atFixedRate()).latency.p99)} ms at ${fixedRun}`);
}
const foreignCores = foreignCpu.read();
await Promise.all(servers.map((server) => server.stop()));
await postgresDatabase?.drop();
report(baseline.runs, switchboard.runs, onPostgres?.runs);
failOn(measured.flatMap((server) => server.problems()), 'these results are not valid measurements of the success path');

function report(baseline: Runs, switchboard: Runs, postgres?: Runs): void {
  const medianOf = (runs: readonly LoadResult[], value: (run: LoadResult) => number) => median(runs.map(value));
  const row = (name: string, run: string, results: readonly LoadResult[]) => {
    const of = (pick: (run: LoadResult) => number, decimals = 2) => formatNumber(medianOf(results, pick), decimals);
    return [name, run, of((r) => r.eventsPerSecond, 0), of((r) => r.latency.p50), of((r) => r.latency.p99), of((r) => r.latency.max),
      of((r) => r.cores.server), of((r) => r.cores.serverMainThread), of((r) => r.cores.generator)];
  };
  const maxRun = `max, ${CONNECTIONS} conn`;
  const medians = [
    ['server', 'run', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'server cores', 'main thread', 'load-gen cores'],
    row('baseline', maxRun, baseline.max),
    row('switchboard', maxRun, switchboard.max),
    row('baseline', fixedRun, baseline.fixed),
    row('switchboard', fixedRun, switchboard.fixed),
    ...(postgres ? [row('switchboard-postgres', maxRun, postgres.max), row('switchboard-postgres', fixedRun, postgres.fixed)] : []),
  ];
  const ratios = switchboard.max.map((run, round) => run.eventsPerSecond / baseline.max[round].eventsPerSecond);
  const eachRound = [
    ['round', 'baseline events/s', 'switchboard events/s', 'ratio', `baseline p99 ms at ${fixedRun}`, `switchboard p99 ms at ${fixedRun}`],
    ...ratios.map((ratio, round) => [String(round + 1), formatNumber(baseline.max[round].eventsPerSecond), formatNumber(switchboard.max[round].eventsPerSecond),
      `${formatNumber(ratio, 2)}×`, formatMs(baseline.fixed[round].latency.p99), formatMs(switchboard.fixed[round].latency.p99)]),
  ];
  const ratio = median(ratios);
  const p99 = medianOf(switchboard.fixed, (result) => result.latency.p99);
  const stalls = (runs: readonly LoadResult[]) => formatMs(Math.max(...runs.map((run) => run.generatorMaxStallMs!)));
  const postgresNotes: string[] = [];
  if (postgres) {
    const postgresRatios = postgres.max.map((run, round) => run.eventsPerSecond / switchboard.max[round].eventsPerSecond);
    const postgresRatio = median(postgresRatios);
    postgresNotes.push(
      `PostgreSQL ÷ SQLite events/s at max throughput = ${formatNumber(postgresRatio, 3)}×, the median of ${rounds} rounds' ratios ` +
        `(${formatNumber(Math.min(...postgresRatios), 2)}–${formatNumber(Math.max(...postgresRatios), 2)}×) ` +
        `(target ≥ ${POSTGRES_TO_SQLITE_TARGET}×: ${verdict(postgresRatio >= POSTGRES_TO_SQLITE_TARGET)}); ` +
        `at max throughput on PostgreSQL, Switchboard used ${formatNumber(medianOf(postgres.max, (run) => run.cores.server), 2)} cores ` +
        `and the other processes (PostgreSQL's) ${formatNumber(median(postgresCores), 2)}`,
    );
  }
  printReport(header, [medians, eachRound], [
    ...postgresNotes,
    // Three decimals: at two, a median of 0.598 would read 0.60× beside its verdict, missed.
    `Throughput: Switchboard / baseline = ${formatNumber(ratio, 3)}×, the median of ${rounds} rounds' ratios ` +
      `(${formatNumber(Math.min(...ratios), 2)}–${formatNumber(Math.max(...ratios), 2)}×) (target ≥ ${THROUGHPUT_TARGET}×: ${verdict(ratio >= THROUGHPUT_TARGET)})`,
    `Latency at ${fixedRun}: Switchboard p99 = ${formatMs(p99)} ms, the median of ${rounds} runs (target ≤ ${P99_TARGET_MS} ms: ${verdict(p99 <= P99_TARGET_MS)}); ` +
      `the bare baseline's ${formatMs(medianOf(baseline.fixed, (result) => result.latency.p99))} ms`,
    `Fixed-rate latency counts from each request's due time; the load generator's longest own stall: ` +
      `${stalls(baseline.fixed)} ms (baseline runs), ${stalls(switchboard.fixed)} ms (Switchboard runs)`,
    describeForeignCpu(foreignCores, `during the runs${postgres ? ' (PostgreSQL included)' : ''}`),
  ]);
}
