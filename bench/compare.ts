/**
 * `npm run bench:compare -- <checkout A> <checkout B>`: two checkouts of the project run in turns under the same
 * load, A B B A A B B A…, so that a machine whose speed drifts from minute to minute treats both alike. Each round,
 * on fresh SQLite databases: the ingest benchmark's Switchboard (ingest-run.ts: a 2 s warm-up, a max-throughput run,
 * a 1,000 events/s run), then bench:deliver's (delivery-run.ts: every event forwarded through the queue at
 * 1,000 events/s, ordering none). Prints each round and the medians: ingest events/s, CPU per event, and
 * deliveries/s with the ingest p99 while delivering.
 * Flags: --rounds <n> (default 4) --duration <s> (default 5) --ingest-only. A checkout needs its own `npm ci`, or a
 * node_modules linked to this one's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { measureDelivery, type DeliveryResult, type DeliverySetup } from './delivery-run.ts';
import { positiveNumber, wholeNumber } from './flags.ts';
import { startInTurn, writeBenchRules, type IngestLoad } from './ingest-run.ts';
import type { LoadResult } from './load.ts';
import { startCountingReceiver } from './receiver.ts';
import { describeRun, formatNumber, markdownTable, median, microsPerEvent } from './report.ts';
import { switchboardEnvironment } from './server-process.ts';

const RATE = 1000;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string' }, duration: { type: 'string' }, 'ingest-only': { type: 'boolean', default: false } },
});
if (positionals.length !== 2) throw new Error('usage: npm run bench:compare -- <checkout A> <checkout B> [--rounds n] [--duration s] [--ingest-only]');
const checkouts = { A: resolve(positionals[0]), B: resolve(positionals[1]) };
const rounds = wholeNumber('--rounds', flags.rounds ?? '4');
const load: IngestLoad = {
  connections: 16,
  rate: RATE,
  duration: positiveNumber('--duration', flags.duration ?? '5'),
  warmupSeconds: 2,
  credentials: { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') },
};

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-compare-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
const rulesDir = join(workDir, 'rules');
const rulesNote = await writeBenchRules(rulesDir, checkouts.A);

interface Round {
  max: LoadResult;
  fixed: LoadResult;
  delivery?: DeliveryResult;
}
const results: Record<'A' | 'B', Round[]> = { A: [], B: [] };
const problems: string[] = [];

const receiver = flags['ingest-only'] ? undefined : await startCountingReceiver();
const deliverySetup: DeliverySetup | undefined = receiver && {
  db: 'sqlite',
  replicas: 1,
  pgUrl: '',
  workDir,
  credentials: load.credentials,
  receiver,
  warmupSeconds: load.warmupSeconds,
  drainLimitMs: Math.max(60, 3 * load.duration) * 1000,
};
console.log(`${describeRun('bench:compare')}\nA = ${checkouts.A}, B = ${checkouts.B}; Switchboard: ${rulesNote}`);
try {
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const result = await measureIngest(name, join(workDir, `${name}-${round}.db`));
      if (deliverySetup) {
        result.delivery = await measureDelivery(deliverySetup, checkouts[name], 'none', RATE, load.duration);
        problems.push(...result.delivery.problems.map((problem) => `${name}, delivering: ${problem}`));
      }
      results[name].push(result);
      console.log(
        `${name}, round ${round + 1}: ${formatNumber(result.max.eventsPerSecond)} events/s at ${formatNumber(cpuPerEvent(result.max))} µs CPU each; ` +
          `at ${formatNumber(RATE)}/s p99 ${formatNumber(result.fixed.latency.p99, 2)} ms` +
          (result.delivery ? `; delivering, ${formatNumber(result.delivery.deliveredPerSecond)}/s, ingest p99 ${formatNumber(result.delivery.ingest.latency.p99, 2)} ms` : ''),
      );
    }
  }
} finally {
  await receiver?.stop();
}
report();
if (problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}

async function measureIngest(name: 'A' | 'B', database: string): Promise<Round> {
  const checkout = checkouts[name];
  const server = await startInTurn(
    {
      name,
      script: join(checkout, 'bench/servers/switchboard.ts'),
      env: switchboardEnvironment({ credentials: load.credentials, rulesDir, pluginsDir: join(checkout, 'plugins'), databaseUrl: `file:${database}` }),
      isSwitchboard: true,
    },
    load,
  );
  try {
    await server.warmUp();
    return { max: await server.atMaxThroughput(), fixed: await server.atFixedRate() };
  } finally {
    await server.stop();
    problems.push(...server.problems().map((problem) => `${name}: ${problem}`));
    for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });
  }
}

function cpuPerEvent(run: LoadResult): number {
  return microsPerEvent(run.cores.server, run.eventsPerSecond);
}

function report(): void {
  const row = (name: 'A' | 'B') => {
    const runs = results[name];
    const of = (pick: (run: Round) => number, decimals = 0) => formatNumber(median(runs.map(pick)), decimals);
    return [
      name,
      of((run) => run.max.eventsPerSecond),
      of((run) => cpuPerEvent(run.max)),
      // Of it, the event loop's share: what queues answers behind one another.
      of((run) => microsPerEvent(run.max.cores.serverMainThread, run.max.eventsPerSecond)),
      of((run) => run.fixed.latency.p99, 2),
      of((run) => cpuPerEvent(run.fixed)),
      ...(flags['ingest-only']
        ? []
        : [
            of((run) => run.delivery!.deliveredPerSecond),
            of((run) => run.delivery!.ingest.latency.p99, 2),
            of((run) => microsPerEvent(run.delivery!.cores.switchboard, run.delivery!.ingest.eventsPerSecond)),
          ]),
    ];
  };
  const rate = formatNumber(RATE);
  const header = ['checkout', 'events/s (max)', 'µs CPU/event (max)', 'µs main thread/event (max)', `p99 ms at ${rate}/s`, `µs CPU/event at ${rate}/s`,
    ...(flags['ingest-only'] ? [] : ['deliveries/s', 'ingest p99 ms delivering', 'µs CPU/event+delivery'])];
  console.log(`\nMedians of ${rounds} rounds:\n\n${markdownTable([header, row('A'), row('B')])}`);
}
