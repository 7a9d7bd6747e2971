/**
 * `npm run bench:compare -- <checkout A> <checkout B>`: the ingest benchmark's Switchboard (200 rules, inline status
 * actions, SQLite) from two checkouts of the project, run in turns under the same load, A B B A A B B A…, so that a
 * machine whose speed drifts from minute to minute treats both alike. Each round: a 2 s warm-up, a max-throughput run
 * (16 connections) and a 1,000 events/s run, on a fresh database. Prints each round and the medians.
 * Flags: --rounds <n> (default 4) --duration <s> (default 5). A checkout needs its own `npm ci`, or a node_modules
 * linked to this one's.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { positiveNumber } from './flags.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult } from './load.ts';
import { describeMachine, formatNumber, machine, markdownTable, median, microsPerEvent } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import { startServerProcess, switchboardEnvironment } from './server-process.ts';
import { createEventSource, signedDeliveries } from './webhook-events.ts';

const GENERATED_RULES = 198;
const WARMUP_SECONDS = 2;
const FIXED_RATE = 1000;
const CONNECTIONS = 16;
// Enough distinct deliveries per second of a max-throughput run for a server well above today's speed.
const POOL_PER_SECOND = 10_000;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string' }, duration: { type: 'string' } },
});
if (positionals.length !== 2) throw new Error('usage: npm run bench:compare -- <checkout A> <checkout B> [--rounds n] [--duration s]');
const checkouts = { A: resolve(positionals[0]), B: resolve(positionals[1]) };
const rounds = Math.round(positiveNumber('--rounds', flags.rounds ?? '4'));
const duration = positiveNumber('--duration', flags.duration ?? '5');

const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-compare-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));

const rulesDir = join(workDir, 'rules');
mkdirSync(rulesDir);
copyFileSync(join(checkouts.A, 'rules/session-status.yaml'), join(rulesDir, 'session-status.yaml'));
writeRuleFiles(rulesDir, generateRules(GENERATED_RULES));
const source = createEventSource();

interface Round {
  max: LoadResult;
  fixed: LoadResult;
}
const results: Record<'A' | 'B', Round[]> = { A: [], B: [] };

console.log(`Comparing A = ${checkouts.A} with B = ${checkouts.B}: ${describeMachine(machine())}`);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
  for (const name of order) {
    const result = await measure(checkouts[name], join(workDir, `${name}-${round}.db`));
    results[name].push(result);
    console.log(
      `${name}, round ${round + 1}: ${formatNumber(result.max.eventsPerSecond)} events/s at ${formatNumber(cpuPerEvent(result.max))} µs CPU each ` +
        `(${formatNumber(mainThreadPerEvent(result.max))} µs on the main thread); ` +
        `at ${formatNumber(FIXED_RATE)}/s p99 ${formatNumber(result.fixed.latency.p99, 2)} ms, ${formatNumber(cpuPerEvent(result.fixed))} µs CPU each`,
    );
  }
}
report();

async function measure(checkout: string, database: string): Promise<Round> {
  const server = await startServerProcess(join(checkout, 'bench/servers/switchboard.ts'), {
    env: switchboardEnvironment({ credentials, rulesDir, pluginsDir: join(checkout, 'plugins'), databaseUrl: `file:${database}` }),
  });
  try {
    const target = { url: server.url, serverPid: server.pid };
    const sign = (count: number) => signedDeliveries(source, count, credentials);
    await runAtMaxThroughput({ ...target, connections: CONNECTIONS, duration: WARMUP_SECONDS, deliveries: await sign(POOL_PER_SECOND * WARMUP_SECONDS) });
    const max = await runAtMaxThroughput({ ...target, connections: CONNECTIONS, duration, deliveries: await sign(POOL_PER_SECOND * duration) });
    const fixed = await runAtFixedRate({ ...target, rate: FIXED_RATE, duration, deliveries: await sign(FIXED_RATE * duration) });
    for (const run of [max, fixed]) {
      if (run.non2xx + run.errors > 0) throw new Error(`${checkout}: ${run.non2xx} non-2xx answers, ${run.errors} errors`);
    }
    return { max, fixed };
  } finally {
    await server.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });
  }
}

function cpuPerEvent(run: LoadResult): number {
  return microsPerEvent(run.cores.server, run.eventsPerSecond);
}

/** Of it, the event loop's share: what queues answers behind one another. */
function mainThreadPerEvent(run: LoadResult): number {
  return microsPerEvent(run.cores.serverMainThread, run.eventsPerSecond);
}

function report(): void {
  const row = (name: 'A' | 'B') => {
    const runs = results[name];
    return [
      name,
      formatNumber(median(runs.map((run) => run.max.eventsPerSecond))),
      formatNumber(median(runs.map((run) => cpuPerEvent(run.max)))),
      formatNumber(median(runs.map((run) => mainThreadPerEvent(run.max)))),
      formatNumber(median(runs.map((run) => run.fixed.latency.p99)), 2),
      formatNumber(median(runs.map((run) => cpuPerEvent(run.fixed)))),
    ];
  };
  const header = ['checkout', 'events/s (max)', 'µs CPU/event (max)', 'µs main thread/event (max)', `p99 ms at ${formatNumber(FIXED_RATE)}/s`, `µs CPU/event at ${formatNumber(FIXED_RATE)}/s`];
  console.log(`\nMedians of ${rounds} rounds:\n\n${markdownTable([header, row('A'), row('B')])}`);
}
