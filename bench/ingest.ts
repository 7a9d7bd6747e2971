/**
 * `npm run bench`: webhook ingest throughput and latency of Switchboard (200 rules, inline status actions, SQLite)
 * against a baseline that only verifies each delivery with livekit-server-sdk. Each server runs in a child process;
 * the load comes from this one. Flags: --duration <s> --connections <n> --rate <events/s> --quick --cpu-prof.
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
import { describeFlushLatency, measureFlushLatency } from './disk-check.ts';
import { positiveNumber } from './flags.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult, type ResponseInspector } from './load.ts';
import { describeCode, describeMachine, formatNumber, machine, markdownTable, textTable, verdict } from './report.ts';
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
    quick: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const duration = positiveNumber('--duration', flags.duration ?? (flags.quick ? '2' : '10'));
const connections = Math.round(positiveNumber('--connections', flags.connections ?? '16'));
const rate = positiveNumber('--rate', flags.rate ?? '1000');
const warmupSeconds = flags.quick ? 1 : 3;
if (duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);

const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
// However the benchmark ends, the temporary rules and database go with it (and the servers: see server-process.ts).
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
// Bounded whatever happens: start-up, warm-up, two runs per server, with generous slack.
setTimeout(() => {
  console.error('benchmark watchdog: giving up after its time budget; the servers are stopped with it');
  process.exit(2);
}, (4 * duration + 240) * 1000).unref();

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

interface Measurement {
  warmup: LoadResult;
  max: LoadResult;
  fixed: LoadResult;
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
    `(after a ${warmupSeconds} s warm-up). Fixed rate: ${formatNumber(rate)} events/s open loop for ${duration} s.` +
    (flags['cpu-prof'] ? ' Switchboard runs under --cpu-prof: its figures are lower than without.' : ''),
);

const diskBefore = await measureFlushLatency(workDir);
const results = new Map<string, Measurement>();
for (const server of [baseline, switchboard]) {
  console.log(`\n${server.name}: starting…`);
  results.set(server.name, await measure(server));
}
const disk = describeFlushLatency(diskBefore, await measureFlushLatency(workDir));
report(results.get('baseline')!, results.get('switchboard')!, disk);
if (flags['cpu-prof']) printProfiles(profileDir);

const problems = [...results].flatMap(([name, m]) => m.problems.map((problem) => `${name}: ${problem}`));
if (problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements of the success path:\n  ${problems.join('\n  ')}`);
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

async function measure(server: ServerUnderTest): Promise<Measurement> {
  const running = await startServerProcess(server.script, { env: server.env, execArgv: server.execArgv });
  const foreignCpu = startForeignCpuMeter([process.pid, running.pid]);
  const check = server.responses?.();
  const source = createEventSource();
  const problems: string[] = [];
  // Each run's deliveries are referenced by that run only; the ones before are collected here, not during it.
  const sign = async (count: number) => {
    const deliveries = await signedDeliveries(source, count, credentials);
    collectGarbage();
    return deliveries;
  };
  try {
    const warmup = await runAtMaxThroughput({
      url: running.url,
      serverPid: running.pid,
      connections,
      duration: warmupSeconds,
      deliveries: await sign(WARMUP_DELIVERIES_PER_SECOND * warmupSeconds),
      inspect: check?.inspect,
    });
    // Enough distinct deliveries for three times the warmed-up rate (a warm-up is cold, and may be disturbed):
    // the run fails rather than repeat one.
    const poolSize = Math.ceil(Math.max(3 * warmup.eventsPerSecond, MIN_POOL_PER_SECOND) * duration) + 2000;
    console.log(`${server.name}: warm-up ${formatNumber(warmup.eventsPerSecond)} events/s; max-throughput run (${formatNumber(poolSize)} signed deliveries)…`);
    const max = await runAtMaxThroughput({
      url: running.url,
      serverPid: running.pid,
      connections,
      duration,
      deliveries: await sign(poolSize),
      inspect: check?.inspect,
    });
    console.log(`${server.name}: ${formatNumber(max.eventsPerSecond)} events/s; fixed-rate run…`);
    const fixed = await runAtFixedRate({
      url: running.url,
      serverPid: running.pid,
      rate,
      duration,
      deliveries: await sign(Math.round(rate * duration)),
      inspect: check?.inspect,
    });
    const foreignCores = foreignCpu.read();

    for (const [run, result] of [['warm-up', warmup], ['max-throughput', max], ['fixed-rate', fixed]] as const) {
      if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses in the ${run} run`);
      if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts in the ${run} run`);
    }
    problems.push(...(check?.problems() ?? []));
    return { warmup, max, fixed, foreignCores, problems };
  } finally {
    await running.stop();
  }
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

function report(baseline: Measurement, switchboard: Measurement, disk: string): void {
  const ms = (value: number) => formatNumber(value, 2);
  const row = (name: string, run: string, result: LoadResult) => [
    name,
    run,
    formatNumber(result.eventsPerSecond),
    ms(result.latency.p50),
    ms(result.latency.p99),
    ms(result.latency.max),
    formatNumber(result.cores.server, 2),
    formatNumber(result.cores.generator, 2),
    String(result.non2xx),
    String(result.errors),
  ];
  const maxRun = `max, ${connections} conn`;
  const fixedRun = `${formatNumber(rate)}/s`;
  const rows = [
    ['server', 'run', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'server cores', 'load-gen cores', 'non-2xx', 'errors'],
    row('baseline', maxRun, baseline.max),
    row('switchboard', maxRun, switchboard.max),
    row('baseline', fixedRun, baseline.fixed),
    row('switchboard', fixedRun, switchboard.fixed),
  ];
  const ratio = switchboard.max.eventsPerSecond / baseline.max.eventsPerSecond;
  const p99 = switchboard.fixed.latency.p99;
  const notes = [
    `Throughput: Switchboard / baseline = ${formatNumber(ratio, 2)}× (target ≥ ${THROUGHPUT_TARGET}× baseline: ${verdict(ratio >= THROUGHPUT_TARGET)})`,
    `Latency at ${formatNumber(rate)} events/s: Switchboard p99 = ${ms(p99)} ms (target p99 ≤ ${P99_TARGET_MS} ms: ${verdict(p99 <= P99_TARGET_MS)})`,
    `Fixed-rate latency counts from each request's due time; the load generator's longest own stall: ` +
      `${ms(baseline.fixed.generatorMaxStallMs!)} ms (baseline run), ${ms(switchboard.fixed.generatorMaxStallMs!)} ms (Switchboard run)`,
    describeForeignCpu(baseline.foreignCores, 'during the baseline runs'),
    describeForeignCpu(switchboard.foreignCores, 'during the Switchboard runs'),
    disk,
  ];

  console.log(`\n${textTable(rows)}\n\n${notes.join('\n')}`);
  console.log('\nFor docs/benchmarks.md:\n');
  console.log(`${markdownTable(rows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}

