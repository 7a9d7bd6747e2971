/**
 * `npm run bench:tracing`: what tracing costs on the ingest path. The Switchboard server of `npm run bench` (200
 * rules, inline status actions, SQLite) runs twice in a child process of its own: tracing off (no SDK), then on,
 * exporting every span in batches over OTLP/HTTP to a local collector stand-in (bench/servers/otlp-sink.ts). Each
 * gets a warm-up, a max-throughput run and a fixed-rate run. Flags: --duration <s> --connections <n> --rate <events/s>
 * --quick.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { positiveNumber } from './flags.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult } from './load.ts';
import { describeMachine, formatNumber, machine, markdownTable, textTable, verdict } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import { startServerProcess, switchboardEnvironment } from './server-process.ts';
import { createEventSource, signedDeliveries } from './webhook-events.ts';

const RULE_COUNT = 200;
const ROOT = resolve(import.meta.dirname, '..');
const PLUGINS_DIR = join(ROOT, 'plugins');
const OVERHEAD_TARGET_PERCENT = 15;
const WARMUP_DELIVERIES_PER_SECOND = 20_000;
const MIN_POOL_PER_SECOND = 5_000;

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const duration = positiveNumber('--duration', flags.duration ?? (flags.quick ? '2' : '10'));
const connections = Math.round(positiveNumber('--connections', flags.connections ?? '16'));
const rate = positiveNumber('--rate', flags.rate ?? '1000');
const warmupSeconds = flags.quick ? 1 : 3;
if (duration > 240) throw new Error('--duration is at most 240 s: LiveKit tokens expire after 5 minutes');

const watchdog = setTimeout(() => {
  console.error('tracing benchmark watchdog: giving up after its time budget');
  process.exit(2);
}, (4 * duration + 240) * 1000);
watchdog.unref();

const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-tracing-'));

interface Measurement {
  max: LoadResult;
  fixed: LoadResult;
  problems: string[];
}

try {
  const rulesDir = await prepareRules(join(workDir, 'rules'));
  console.log(`Switchboard tracing overhead: ${describeMachine(machine())}; load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  console.log(
    `${RULE_COUNT} rules, inline status actions, SQLite, LOG_LEVEL=warn. Max throughput: ${connections} connections, ${duration} s ` +
      `after a ${warmupSeconds} s warm-up; fixed rate: ${formatNumber(rate)} events/s for ${duration} s. ` +
      'Tracing on: every span exported in batches (BatchSpanProcessor defaults) over OTLP/HTTP to a local sink.',
  );

  const off = await measure('off', rulesDir, {});
  const sink = await startServerProcess(join(ROOT, 'bench/servers/otlp-sink.ts'), { env: {} });
  let on: Measurement;
  try {
    on = await measure('on', rulesDir, { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url });
  } finally {
    await sink.stop();
  }
  report(off, on);

  const problems = [...off.problems.map((p) => `off: ${p}`), ...on.problems.map((p) => `on: ${p}`)];
  if (problems.length > 0) {
    console.error(`\nFAILED: these results are not valid measurements:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

async function prepareRules(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(ROOT, 'rules/session-status.yaml'), join(dir, 'session-status.yaml'));
  const plugins = (await loadPlugins(PLUGINS_DIR)).specs();
  const shipped = await loadRules({ dir, plugins, env: {} });
  writeRuleFiles(dir, generateRules(RULE_COUNT - shipped.rules.length));
  return dir;
}

async function measure(tracing: 'off' | 'on', rulesDir: string, otel: Record<string, string>): Promise<Measurement> {
  console.log(`\ntracing ${tracing}: starting…`);
  const running = await startServerProcess(join(ROOT, 'bench/servers/switchboard.ts'), {
    env: {
      ...switchboardEnvironment({ credentials, rulesDir, pluginsDir: PLUGINS_DIR, databaseUrl: `file:${join(workDir, `bench-${tracing}.db`)}` }),
      ...otel,
    },
    // Both runs start tracing the way `switchboard serve` does; only the environment differs.
    execArgv: ['--import', join(ROOT, 'bench/servers/with-tracing.ts')],
  });
  const source = createEventSource();
  // Each run's deliveries are signed before it and collected between runs (--expose-gc), never during one.
  const sign = async (count: number) => {
    const deliveries = await signedDeliveries(source, count, credentials);
    (globalThis as { gc?: () => void }).gc?.();
    return deliveries;
  };
  try {
    const target = { url: running.url, serverPid: running.pid };
    const warmup = await runAtMaxThroughput({ ...target, connections, duration: warmupSeconds, deliveries: await sign(WARMUP_DELIVERIES_PER_SECOND * warmupSeconds) });
    const poolSize = Math.ceil(Math.max(3 * warmup.eventsPerSecond, MIN_POOL_PER_SECOND) * duration) + 2000;
    const max = await runAtMaxThroughput({ ...target, connections, duration, deliveries: await sign(poolSize) });
    console.log(`tracing ${tracing}: ${formatNumber(max.eventsPerSecond)} events/s; fixed-rate run…`);
    const fixed = await runAtFixedRate({ ...target, rate, duration, deliveries: await sign(Math.round(rate * duration)) });
    const problems: string[] = [];
    for (const [run, result] of [['warm-up', warmup], ['max-throughput', max], ['fixed-rate', fixed]] as const) {
      if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses in the ${run} run`);
      if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts in the ${run} run`);
    }
    return { max, fixed, problems };
  } finally {
    await running.stop();
  }
}

/** Server CPU per event, in microseconds: the cost of tracing, whatever the load generator could offer. */
function cpuPerEvent(result: LoadResult): number {
  return (result.cores.server * 1e6) / result.eventsPerSecond;
}

function report(off: Measurement, on: Measurement): void {
  const ms = (value: number) => formatNumber(value, 2);
  const row = (name: string, m: Measurement) => [
    name,
    formatNumber(m.max.eventsPerSecond),
    formatNumber(cpuPerEvent(m.max)),
    ms(m.fixed.latency.p50),
    ms(m.fixed.latency.p99),
    formatNumber(cpuPerEvent(m.fixed)),
  ];
  const rows = [
    ['tracing', `max events/s (${connections} conn)`, 'µs CPU/event (max)', `p50 ms (${formatNumber(rate)}/s)`, `p99 ms (${formatNumber(rate)}/s)`, `µs CPU/event (${formatNumber(rate)}/s)`],
    row('off', off),
    row('on (OTLP/HTTP)', on),
  ];
  const throughputCost = (1 - on.max.eventsPerSecond / off.max.eventsPerSecond) * 100;
  const cpuCost = (cpuPerEvent(on.fixed) / cpuPerEvent(off.fixed) - 1) * 100;
  const notes = [
    `Throughput lost to tracing: ${formatNumber(throughputCost, 1)}% (target ≤ ${OVERHEAD_TARGET_PERCENT}%: ${verdict(throughputCost <= OVERHEAD_TARGET_PERCENT)})`,
    `Server CPU per event at ${formatNumber(rate)} events/s: +${formatNumber(cpuCost, 1)}% with tracing on`,
    'The sink printed how many spans it received above ("otlp sink: …"); tracing off registers no SDK at all.',
  ];
  console.log(`\n${textTable(rows)}\n\n${notes.join('\n')}`);
  console.log('\nFor docs/benchmarks.md:\n');
  console.log(`${markdownTable(rows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}
