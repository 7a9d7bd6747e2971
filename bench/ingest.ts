/**
 * `npm run bench`: webhook ingest throughput and latency of Switchboard (200 rules, inline status actions, SQLite)
 * against a baseline that only verifies each delivery with livekit-server-sdk, and beside a durable baseline that
 * also flushes each delivery to a log file before answering. Each server runs in a child process; the load comes
 * from this one, to each in turn. Flags: --duration <s> --connections <n> --rate <events/s>
 * --rounds <n> --quick --cpu-prof.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { printProfiles } from './cpu-profile.ts';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { describeFlushLatency, measureFlushLatency, writeBackDirtyPages } from './disk-check.ts';
import { positiveNumber } from './flags.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult, type ResponseInspector } from './load.ts';
import { describeCode, describeMachine, formatNumber, machine, markdownTable, median, textTable, verdict } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import { startServerProcess, switchboardEnvironment } from './server-process.ts';
import { createEventSource, signedDeliveries } from './webhook-events.ts';

const RULE_COUNT = 200;
const ROOT = resolve(import.meta.dirname, '..');
const SHIPPED_RULES = 'rules/session-status.yaml';
const PLUGINS_DIR = join(ROOT, 'plugins');
const THROUGHPUT_TARGET = 0.6;
const P99_TARGET_MS = 10;
// LiveKit's tokens live five minutes; every delivery of a run is signed just before it, and must outlive it.
const MAX_DURATION_S = 240;
// A ceiling on either server's rate, to size the warm-up's deliveries; the warm-up then sizes the real run's.
const WARMUP_DELIVERIES_PER_SECOND = 20_000;
const MIN_POOL_PER_SECOND = 5_000;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const duration = positiveNumber('--duration', flags.duration ?? (flags.quick ? '2' : '10'));
const connections = Math.round(positiveNumber('--connections', flags.connections ?? '16'));
const rate = positiveNumber('--rate', flags.rate ?? '1000');
const rounds = Math.round(positiveNumber('--rounds', flags.rounds ?? (flags.quick ? '1' : '3')));
const warmupSeconds = flags.quick ? 1 : 3;
if (duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);

const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
// However the benchmark ends, the temporary rules and database go with it (and the servers: see server-process.ts).
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
// Bounded whatever happens: start-up, warm-up, two runs per server (three of them) and round, with generous slack.
setTimeout(() => {
  console.error('benchmark watchdog: giving up after its time budget; the servers are stopped with it');
  process.exit(2);
}, (6 * rounds * duration + 300) * 1000).unref();

interface ServerUnderTest {
  name: string;
  script: string;
  env: Record<string, string>;
  execArgv?: string[];
  /** Checks each answer and says what went wrong, if anything. */
  responses?: () => ResponseCheck;
}

interface ResponseCheck {
  inspect: ResponseInspector;
  problems(): string[];
}

/** One server's runs: a max-throughput and a fixed-rate run per round. */
interface ServerRuns {
  max: LoadResult[];
  fixed: LoadResult[];
}

interface Measurement {
  baseline: ServerRuns;
  durable: ServerRuns;
  switchboard: ServerRuns;
  /** Cores other processes on the machine used meanwhile. */
  foreignCores: number;
  problems: string[];
}

const rules = await prepareRules(join(workDir, 'rules'));
const baseline: ServerUnderTest = {
  name: 'baseline',
  script: join(ROOT, 'bench/servers/baseline.ts'),
  env: { LIVEKIT_API_KEY: credentials.apiKey, LIVEKIT_API_SECRET: credentials.apiSecret },
};
// Not a target's reference: it shows what waiting for the disk before every answer costs on this machine.
const durableBaseline: ServerUnderTest = {
  name: 'durable baseline',
  script: join(ROOT, 'bench/servers/durable-baseline.ts'),
  env: { ...baseline.env, DURABLE_LOG: join(workDir, 'durable.log') },
};
// Kept after the run (printProfiles names the files), for a closer look than the summary gives.
const profileDir = flags['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'switchboard-ingest-profile-')) : '';
const switchboard: ServerUnderTest = {
  name: 'switchboard',
  script: join(ROOT, 'bench/servers/switchboard.ts'),
  env: switchboardEnvironment({ credentials, rulesDir: rules.dir, pluginsDir: PLUGINS_DIR, databaseUrl: `file:${join(workDir, 'bench.db')}` }),
  execArgv: flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  responses: checkSwitchboardAnswers,
};

console.log(`Switchboard ingest benchmark, ${describeCode()}: ${describeMachine(machine())}; load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
console.log(
  `Switchboard: ${rules.count} rules (${rules.generated} generated + ${rules.count - rules.generated} from ${SHIPPED_RULES}), ` +
    `each event matches ${rules.matches.min}–${rules.matches.max} (mean ${formatNumber(rules.matches.mean, 1)}) and runs as many inline status actions; ` +
    `SQLite in ${tmpdir()}; LOG_LEVEL=warn (at info every webhook writes a log line to stdout, which would be measured too).`,
);
console.log(
  `Load: every request a distinct event, signed as LiveKit signs it. Max throughput: autocannon, ${connections} connections, ${duration} s ` +
    `(after a ${warmupSeconds} s warm-up). Fixed rate: ${formatNumber(rate)} events/s open loop for ${duration} s. ` +
    `${rounds} rounds, the two servers in turns.` +
    (flags['cpu-prof'] ? ' Switchboard runs under --cpu-prof: its figures are lower than without.' : ''),
);

const diskBefore = await measureFlushLatency(workDir);
const measured = await measureInTurns([durableBaseline, baseline, switchboard]);
const disk = describeFlushLatency(diskBefore, await measureFlushLatency(workDir));
report(measured, disk);
if (flags['cpu-prof']) printProfiles(profileDir);

if (measured.problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements of the success path:\n  ${measured.problems.join('\n  ')}`);
  process.exitCode = 1;
}

/** The shipped rules plus generated ones, loaded once here to check them and count what each event matches. */
async function prepareRules(dir: string) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(ROOT, SHIPPED_RULES), join(dir, 'session-status.yaml'));
  const plugins = (await loadPlugins(PLUGINS_DIR)).specs();
  const shipped = await loadRules({ dir, plugins, env: {} });
  const generated = RULE_COUNT - shipped.rules.length;
  writeRuleFiles(dir, generateRules(generated));
  const ruleSet = await loadRules({ dir, plugins, env: {} });

  const source = createEventSource();
  const counts = Array.from({ length: 1200 }, () => ruleSet.match(buildContext(source.next())).length);
  const matches = {
    min: Math.min(...counts),
    max: Math.max(...counts),
    mean: counts.reduce((sum, n) => sum + n, 0) / counts.length,
  };
  return { dir, count: ruleSet.rules.length, generated, matches };
}

/**
 * The servers run side by side in turns, round after round (in the order given in odd rounds, reversed in even
 * ones), so that a machine whose speed drifts from minute to minute treats them alike: with the baseline in the
 * middle, each round's ratio compares two runs made back to back. All processes stay up throughout; those not
 * loaded sit idle.
 */
async function measureInTurns(servers: readonly [ServerUnderTest, ServerUnderTest, ServerUnderTest]): Promise<Measurement> {
  const started: ServerInTurn[] = [];
  try {
    for (const server of servers) started.push(await startInTurn(server));
    const foreignCpu = startForeignCpuMeter([process.pid, ...started.map((server) => server.pid)]);
    for (const server of started) await server.warmUp();
    const [durable, baseline, switchboard] = started.map((server) => server.runs);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? started : [...started].reverse();
      for (const server of order) await server.atMaxThroughput();
      for (const server of order) await server.atFixedRate();
      console.log(
        `round ${round + 1} of ${rounds}: ${order.map((server) => server.name).join(' then ')}; ` +
          `ratio ${formatNumber(switchboard.max[round].eventsPerSecond / baseline.max[round].eventsPerSecond, 2)}×`,
      );
    }
    const foreignCores = foreignCpu.read();
    const problems = started.flatMap((server) => server.problems().map((problem) => `${server.name}: ${problem}`));
    return { baseline, durable, switchboard, foreignCores, problems };
  } finally {
    await Promise.all(started.map((server) => server.stop()));
  }
}

interface ServerInTurn {
  name: string;
  pid: number;
  /** Its runs so far, one of each kind per round. */
  runs: ServerRuns;
  /** Also sizes the pool of deliveries each max-throughput run signs. */
  warmUp(): Promise<void>;
  atMaxThroughput(): Promise<void>;
  atFixedRate(): Promise<void>;
  /** What went wrong in any of its runs: non-2xx answers, errors, and what its answers must not show. */
  problems(): string[];
  stop(): Promise<void>;
}

async function startInTurn(server: ServerUnderTest): Promise<ServerInTurn> {
  console.log(`${server.name}: starting…`);
  const running = await startServerProcess(server.script, { env: server.env, execArgv: server.execArgv });
  const check = server.responses?.();
  const source = createEventSource();
  const target = { url: running.url, serverPid: running.pid, inspect: check?.inspect };
  const problems: string[] = [];
  const runs: ServerRuns = { max: [], fixed: [] };
  let poolSize = 0;
  // Each run's deliveries are referenced by that run only; the ones before are collected here, not during it, and
  // what the run before wrote to disk (of either server) is written back before this one starts.
  const sign = async (count: number) => {
    const deliveries = await signedDeliveries(source, count, credentials);
    collectGarbage();
    writeBackDirtyPages();
    return deliveries;
  };
  const checked = (run: string, result: LoadResult) => {
    if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses in the ${run} run`);
    if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts in the ${run} run`);
    return result;
  };
  return {
    name: server.name,
    pid: running.pid,
    runs,
    async warmUp() {
      const deliveries = await sign(WARMUP_DELIVERIES_PER_SECOND * warmupSeconds);
      const warmup = await runAtMaxThroughput({ ...target, connections, duration: warmupSeconds, deliveries });
      // Enough distinct deliveries for three times the warmed-up rate (a warm-up is cold, and may be disturbed):
      // a run fails rather than repeat one.
      poolSize = Math.ceil(Math.max(3 * warmup.eventsPerSecond, MIN_POOL_PER_SECOND) * duration) + 2000;
      console.log(`${server.name}: warm-up ${formatNumber(warmup.eventsPerSecond)} events/s`);
      checked('warm-up', warmup);
    },
    async atMaxThroughput() {
      const deliveries = await sign(poolSize);
      const max = await runAtMaxThroughput({ ...target, connections, duration, deliveries });
      console.log(`${server.name}: ${formatNumber(max.eventsPerSecond)} events/s at max throughput`);
      runs.max.push(checked('max-throughput', max));
    },
    async atFixedRate() {
      const deliveries = await sign(Math.round(rate * duration));
      const fixed = await runAtFixedRate({ ...target, rate, duration, deliveries });
      console.log(`${server.name}: p99 ${formatNumber(fixed.latency.p99, 2)} ms at ${formatNumber(rate)} events/s`);
      runs.fixed.push(checked('fixed-rate', fixed));
    },
    problems: () => [...problems, ...(check?.problems() ?? [])],
    stop: () => running.stop(),
  };
}

function collectGarbage(): void {
  // `npm run bench` passes --expose-gc; without it, a collection may land inside a run.
  (globalThis as { gc?: () => void }).gc?.();
}

/** Switchboard's answers must show the path being measured: new events, rules matched, actions succeeded. */
function checkSwitchboardAnswers(): ResponseCheck {
  let duplicates = 0;
  let failedActions = 0;
  let firstFailure: string | undefined;
  let firstError: string | undefined;
  return {
    inspect(status, body) {
      if (status < 200 || status >= 300) {
        firstError ??= `${status} ${body}`;
        return;
      }
      const { results } = JSON.parse(body);
      if (results.duplicate) duplicates++;
      for (const action of results.actions) {
        if (action.status !== 'succeeded') {
          failedActions++;
          firstFailure ??= JSON.stringify(action);
        }
      }
    },
    problems() {
      const problems: string[] = [];
      if (firstError !== undefined) problems.push(`first error response: ${firstError}`);
      if (duplicates > 0) problems.push(`${duplicates} deliveries were taken for duplicates`);
      if (failedActions > 0) problems.push(`${failedActions} actions failed, the first: ${firstFailure}`);
      return problems;
    },
  };
}

function report({ baseline, durable, switchboard, foreignCores }: Measurement, disk: string): void {
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
    String(results.reduce((sum, result) => sum + result.non2xx, 0)),
    String(results.reduce((sum, result) => sum + result.errors, 0)),
  ];
  const maxRun = `max, ${connections} conn`;
  const fixedRun = `${formatNumber(rate)}/s`;
  const rows = [
    ['server', 'run', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'server cores', 'main thread', 'load-gen cores', 'non-2xx', 'errors'],
    row('baseline', maxRun, baseline.max),
    row('durable baseline', maxRun, durable.max),
    row('switchboard', maxRun, switchboard.max),
    row('baseline', fixedRun, baseline.fixed),
    row('durable baseline', fixedRun, durable.fixed),
    row('switchboard', fixedRun, switchboard.fixed),
  ];
  const ratios = switchboard.max.map((run, round) => run.eventsPerSecond / baseline.max[round].eventsPerSecond);
  const roundRows = [
    [
      'round',
      'baseline events/s',
      'durable events/s',
      'switchboard events/s',
      'ratio',
      `baseline p99 ms at ${fixedRun}`,
      `durable p99 ms at ${fixedRun}`,
      `switchboard p99 ms at ${fixedRun}`,
    ],
    ...ratios.map((ratio, round) => [
      String(round + 1),
      formatNumber(baseline.max[round].eventsPerSecond),
      formatNumber(durable.max[round].eventsPerSecond),
      formatNumber(switchboard.max[round].eventsPerSecond),
      `${formatNumber(ratio, 2)}×`,
      ms(baseline.fixed[round].latency.p99),
      ms(durable.fixed[round].latency.p99),
      ms(switchboard.fixed[round].latency.p99),
    ]),
  ];
  const ratio = median(ratios);
  const durableRatio = median(switchboard.max.map((run, round) => run.eventsPerSecond / durable.max[round].eventsPerSecond));
  const p99 = medianOf(switchboard.fixed, (result) => result.latency.p99);
  const p99Of = (runs: readonly LoadResult[]) => ms(medianOf(runs, (result) => result.latency.p99));
  const stalls = (runs: readonly LoadResult[]) => ms(Math.max(...runs.map((run) => run.generatorMaxStallMs!)));
  const notes = [
    // Three decimals: at two, a median of 0.598 would read 0.60× beside its verdict, missed.
    `Throughput: Switchboard / baseline = ${formatNumber(ratio, 3)}×, the median of ${rounds} rounds' ratios ` +
      `(${formatNumber(Math.min(...ratios), 2)}–${formatNumber(Math.max(...ratios), 2)}×) (target ≥ ${THROUGHPUT_TARGET}× baseline: ${verdict(ratio >= THROUGHPUT_TARGET)})`,
    `Latency at ${formatNumber(rate)} events/s: Switchboard p99 = ${ms(p99)} ms, the median of ${rounds} runs (target p99 ≤ ${P99_TARGET_MS} ms: ${verdict(p99 <= P99_TARGET_MS)})`,
    `Beside the durable baseline (the baseline plus a log file flushed before each answer): Switchboard / durable ` +
      `baseline = ${formatNumber(durableRatio, 3)}× its throughput; p99 at ${fixedRun}: baseline ${p99Of(baseline.fixed)} ms, ` +
      `durable baseline ${p99Of(durable.fixed)} ms, Switchboard ${ms(p99)} ms`,
    `Fixed-rate latency counts from each request's due time; the load generator's longest own stall: ` +
      `${stalls(baseline.fixed)} ms (baseline runs), ${stalls(durable.fixed)} ms (durable baseline runs), ${stalls(switchboard.fixed)} ms (Switchboard runs)`,
    describeForeignCpu(foreignCores, 'during the runs'),
    disk,
  ];

  console.log(`\nMedians of ${rounds} rounds:\n\n${textTable(rows)}\n\nEach round:\n\n${textTable(roundRows)}\n\n${notes.join('\n')}`);
  console.log('\nFor docs/benchmarks.md:\n');
  console.log(`${markdownTable(rows)}\n\n${markdownTable(roundRows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}
