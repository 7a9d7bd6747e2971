/**
 * `npm run bench:compare -- <checkout A> <checkout B>`: two checkouts in turns (A B B A A B…) on fresh SQLite stores:
 * `npm run bench`'s Switchboard (warm-up, max throughput, 1,000 events/s), then `bench:deliver`'s (ordering none).
 * Flags: --rounds <n> (4) --duration <s> (5) --ingest-only. A checkout needs its own node_modules (or a link).
 */
import { resolve } from 'node:path';
import { measureDelivery, type DeliveryResult } from './delivery-run.ts';
import { readFlags } from './flags.ts';
import { measureIngest, RATE, writeBenchRules, type IngestLoad } from './ingest-run.ts';
import type { LoadResult } from './load.ts';
import { describeRun, failOn, formatMs, formatNumber, markdownTable, median } from './report.ts';
import { freshDatabase, prepareRun, startCountingReceiver, startSwitchboard } from './setup.ts';

const flags = readFlags(['rounds', 'duration'], ['ingest-only'], true);
if (flags.positionals.length !== 2) throw new Error('usage: npm run bench:compare -- <checkout A> <checkout B> [--rounds n] [--duration s] [--ingest-only]');
const checkouts = { A: resolve(flags.positionals[0]), B: resolve(flags.positionals[1]) };
const rounds = flags.number('rounds', 4, true);
const ingestOnly = flags.on('ingest-only');
const { workDir, credentials } = prepareRun('compare');
const load: IngestLoad = { duration: flags.number('duration', 5), warmupSeconds: 2, credentials };
const { rulesDir, rulesNote } = await writeBenchRules(workDir, checkouts.A);
const receiver = ingestOnly ? undefined : await startCountingReceiver();
const deliverySetup = receiver && { db: 'sqlite' as const, replicas: 1, workDir, credentials, receiver, warmupSeconds: load.warmupSeconds };

type Round = { max: LoadResult; fixed: LoadResult; delivery?: DeliveryResult };
const results: Record<'A' | 'B', Round[]> = { A: [], B: [] };
const problems: string[] = [];
/** Microseconds of CPU per event, from the cores used while `eventsPerSecond` were served. */
const microsPerEvent = (cores: number, eventsPerSecond: number) => (1e6 * cores) / eventsPerSecond;
const cpuPerEvent = (run: LoadResult) => microsPerEvent(run.cores.server, run.eventsPerSecond);

console.log(`${describeRun('bench:compare')}\nA = ${checkouts.A}, B = ${checkouts.B}; Switchboard: ${rulesNote}`);
for (let round = 1; round <= rounds; round++) {
  for (const name of round % 2 === 1 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
    const database = await freshDatabase('sqlite', workDir);
    const server = await startSwitchboard(checkouts[name], { credentials, rulesDir, databaseUrl: database.url });
    const result: Round = await measureIngest(name, server, load, problems);
    await server.stop();
    await database.drop();
    if (deliverySetup) {
      result.delivery = await measureDelivery(deliverySetup, checkouts[name], 'none', RATE, load.duration);
      problems.push(...result.delivery.problems.map((problem) => `${name}, delivering: ${problem}`));
    }
    results[name].push(result);
    console.log(
      `${name}, round ${round}: ${formatNumber(result.max.eventsPerSecond)} events/s at ${formatNumber(cpuPerEvent(result.max))} µs CPU each; ` +
        `at ${formatNumber(RATE)}/s p99 ${formatMs(result.fixed.latency.p99)} ms` +
        (result.delivery ? `; delivering, ${formatNumber(result.delivery.deliveredPerSecond)}/s, ingest p99 ${formatMs(result.delivery.ingest.latency.p99)} ms` : ''),
    );
  }
}
await receiver?.stop();

const rate = formatNumber(RATE);
/** A column of the medians: its title, what it takes from a round, and its decimals. */
const columns: Array<[string, (run: Round) => number, number?]> = [
  ['events/s (max)', (run) => run.max.eventsPerSecond],
  ['µs CPU/event (max)', (run) => cpuPerEvent(run.max)],
  // Of it, the event loop's share: what queues answers behind one another.
  ['µs main thread/event (max)', (run) => microsPerEvent(run.max.cores.serverMainThread, run.max.eventsPerSecond)],
  [`p99 ms at ${rate}/s`, (run) => run.fixed.latency.p99, 2],
  [`µs CPU/event at ${rate}/s`, (run) => cpuPerEvent(run.fixed)],
];
if (!ingestOnly) {
  columns.push(
    ['deliveries/s', (run) => run.delivery!.deliveredPerSecond],
    ['ingest p99 ms delivering', (run) => run.delivery!.ingest.latency.p99, 2],
    ['µs CPU/event+delivery', (run) => microsPerEvent(run.delivery!.cores.server, run.delivery!.ingest.eventsPerSecond)],
  );
}
const row = (name: 'A' | 'B') => [name, ...columns.map(([, pick, decimals = 0]) => formatNumber(median(results[name].map(pick)), decimals))];
console.log(`\nMedians of ${rounds} rounds:\n\n${markdownTable([['checkout', ...columns.map(([title]) => title)], row('A'), row('B')])}`);
failOn(problems);
