/**
 * `npm run bench:deliver`: events from webhook to a third-party endpoint through Switchboard's durable delivery
 * queue (see delivery-run.ts), and the ingest latency while delivering. Before each ordering, the ingest
 * benchmark's bare baseline runs at the same rate, delivering nothing: the machine's own latency floor.
 * Flags: --db sqlite|postgres --replicas <n> --rate <events/s> --duration <s> --quick --concurrency <n>
 * --ordering none|room|both --pool-size <n> --pg-url <url>.
 * `--scenario one-room` instead runs bursts of `--events` participant joins (default 200), spread over as many rooms
 * and all in one room, in turns (`--rounds`, default 2), and reports the one-room rate against the spread one
 * (room-burst.ts); `--baseline <checkout>` runs another checkout's Switchboard in the same turns.
 * On PostgreSQL the load's report also counts round trips to the database per webhook and per delivery
 * (round-trips.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeForeignCpu } from './cpu-usage.ts';
import { measureRoomBurst, type BurstResult } from './room-burst.ts';
import { measureDelivery, postgresQuery, roomScopedEvents, signBeforeRun, type DeliveryResult, type DeliverySetup, type Ordering } from './delivery-run.ts';
import { positiveNumber, wholeNumber } from './flags.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { runAtFixedRate, type LoadResult } from './load.ts';
import { startCountingReceiver } from './receiver.ts';
import { describeRun, formatNumber, markdownTable, textTable, verdict } from './report.ts';
import type { RoundTripReport } from './round-trips.ts';
import { startServerProcess } from './server-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DELIVERIES_TARGET = 1_000;
const P99_TARGET_MS = 20;
/**
 * What the receiver gets during the load window falls short of what was sent in it by the deliveries still in
 * flight at its end: a pipeline's latency, not a lack of throughput. Up to this share still counts as keeping up.
 */
const IN_FLIGHT_ALLOWANCE = 0.01;
// LiveKit's tokens live five minutes; every run's deliveries are signed just before it, and must outlive it.
const MAX_DURATION_S = 240;

const { values: flags } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    replicas: { type: 'string', default: '1' },
    rate: { type: 'string', default: String(DELIVERIES_TARGET) },
    duration: { type: 'string' },
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string' },
    ordering: { type: 'string', default: 'both' },
    'pool-size': { type: 'string' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
    scenario: { type: 'string', default: 'load' },
    events: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '2' },
    baseline: { type: 'string' },
  },
});
if (flags.scenario !== 'load' && flags.scenario !== 'one-room') throw new Error(`--scenario is "${flags.scenario}": expected load or one-room`);

if (flags.db !== 'sqlite' && flags.db !== 'postgres') throw new Error(`--db is "${flags.db}": expected sqlite or postgres`);
const replicas = wholeNumber('--replicas', flags.replicas!);
if (flags.db === 'sqlite' && replicas > 1) throw new Error(`--replicas ${replicas} needs --db postgres: SQLite is for one process`);
const rate = positiveNumber('--rate', flags.rate!);
const duration = positiveNumber('--duration', flags.duration ?? (flags.quick ? '5' : '20'));
if (duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);
const orderings = { none: ['none'], room: ['room'], both: ['none', 'room'] }[flags.ordering!] as Ordering[] | undefined;
if (!orderings) throw new Error(`--ordering is "${flags.ordering}": expected none, room or both`);

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-deliver-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
if (flags.db === 'postgres') await postgresQuery(flags['pg-url']!, 'SELECT 1');

const receiver = await startCountingReceiver();
const setup: DeliverySetup = {
  db: flags.db,
  replicas,
  pgUrl: flags['pg-url']!,
  concurrency: flags.concurrency === undefined ? undefined : wholeNumber('--concurrency', flags.concurrency),
  poolSize: flags['pool-size'] === undefined ? undefined : wholeNumber('--pool-size', flags['pool-size']),
  workDir,
  credentials: { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') },
  receiver,
  warmupSeconds: flags.quick ? 1 : 3,
  drainLimitMs: Math.max(60, 3 * duration) * 1000,
};
const store = flags.db === 'sqlite' ? 'SQLite' : `PostgreSQL ×${replicas}`;
const header = [
  describeRun('bench:deliver'),
  `Setup: ${store}, WORKER_CONCURRENCY=${setup.concurrency ?? 'default'} per replica; one rule forwards every event with the http plugin (async) ` +
    `to a counting receiver in its own process. Load: distinct signed events open loop at ${formatNumber(rate)}/s for ${duration} s ` +
    `after a ${setup.warmupSeconds} s warm-up${replicas > 1 ? ', round-robin over the replicas' : ''}; the queue then drains.`,
];
if (flags.scenario === 'one-room') {
  try {
    await runRoomBursts();
  } finally {
    await receiver.stop();
  }
  process.exit();
}
console.log(header.join('\n'));

const variants: Array<{ ordering: Ordering; floor: LoadResult; run: DeliveryResult }> = [];
try {
  for (const ordering of orderings) {
    const floor = await measureFloor();
    console.log(`ordering ${ordering}: the bare baseline's p99 at ${formatNumber(rate)} events/s: ${formatNumber(floor.latency.p99, 2)} ms; Switchboard…`);
    variants.push({ ordering, floor, run: await measureDelivery(setup, ROOT, ordering, rate, duration) });
  }
} finally {
  await receiver.stop();
}
report();
const problems = variants.flatMap(({ ordering, run }) => run.problems.map((problem) => `ordering ${ordering}: ${problem}`));
if (problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements of the delivery path:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}

/** The bare baseline at the benchmark's rate, for its duration: what the machine's own tail is. */
async function measureFloor(): Promise<LoadResult> {
  const { apiKey, apiSecret } = setup.credentials;
  const server = await startServerProcess(join(ROOT, 'bench/servers/baseline.ts'), { env: { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret } });
  const client = new KeepAliveClient(new URL(server.url));
  try {
    const source = roomScopedEvents();
    const target = { url: server.url, serverPid: server.pid, rate, client };
    const sign = (seconds: number) => signBeforeRun(source, Math.round(rate * seconds), setup.credentials);
    await runAtFixedRate({ ...target, duration: setup.warmupSeconds, deliveries: await sign(setup.warmupSeconds) });
    const floor = await runAtFixedRate({ ...target, duration, deliveries: await sign(duration) });
    if (floor.non2xx + floor.errors > 0) throw new Error(`the baseline answered ${floor.non2xx} non-2xx and had ${floor.errors} errors`);
    return floor;
  } finally {
    client.destroy();
    await server.stop();
  }
}

function report(): void {
  const ms = (value: number) => formatNumber(value, 2);
  const cores = (value: number) => formatNumber(value, 2);
  const rows = [
    ['store', 'ordering', 'offered/s', 'delivered/s', 'drain s', 'max backlog', 'ingest p50 ms', 'ingest p99 ms', 'floor p99 ms', 'delivery p99 ms',
      'Switchboard cores', 'main thread', 'receiver cores', 'load-gen cores', 'lost', 'redelivered', 'round trips/webhook', 'round trips/delivery'],
    ...variants.map(({ ordering, floor, run }) => [
      store,
      ordering,
      formatNumber(run.rate),
      formatNumber(run.deliveredPerSecond),
      formatNumber(run.drainMs / 1000, 2),
      formatNumber(run.maxBacklog),
      ms(run.ingest.latency.p50),
      ms(run.ingest.latency.p99),
      ms(floor.latency.p99),
      ms(run.endToEnd.p99),
      cores(run.cores.switchboard),
      cores(run.cores.switchboardMainThread),
      cores(run.cores.receiver),
      cores(run.cores.generator),
      formatNumber(run.queued - run.delivered),
      formatNumber(run.redelivered),
      formatNumber(run.roundTrips?.perWebhook ?? NaN, 2),
      formatNumber(run.roundTrips?.perDelivery ?? NaN, 2),
    ]),
  ];
  const notes = variants.flatMap(({ ordering, run }) => [
    `ordering ${ordering}: ${formatNumber(run.deliveredPerSecond)} deliveries/s sustained (target ≥ ${formatNumber(DELIVERIES_TARGET)}: ` +
      `${verdict(run.deliveredPerSecond >= DELIVERIES_TARGET * (1 - IN_FLIGHT_ALLOWANCE) && Number.isFinite(run.drainMs))}); ` +
      `ingest p99 while delivering ${ms(run.ingest.latency.p99)} ms (target ≤ ${P99_TARGET_MS} ms: ${verdict(run.ingest.latency.p99 <= P99_TARGET_MS)}); ` +
      `the load generator sent late by up to ${ms(run.ingest.sendLatenessP99Ms ?? 0)} ms (p99)`,
  ]);
  notes.push(
    'delivered/s: distinct events the receiver got during the load window, per second of it. Floor: the bare baseline\'s p99 at the same rate, ' +
      'delivering nothing. Delivery p99: from the moment an event was due to its arrival at the receiver. Max backlog: acknowledged, not yet delivered.',
    ...(replicas > 1 ? [`With ${replicas} replicas the ingest percentiles are the highest replica's own.`] : []),
    ...variants.flatMap(({ ordering, run }) => (run.roundTrips === null ? [] : [describeRoundTrips(ordering, run.roundTrips)])),
    describeForeignCpu(Math.max(...variants.map(({ run }) => run.cores.foreign)), `during the busiest load window${flags.db === 'postgres' ? ' (PostgreSQL included)' : ''}`),
  );
  console.log(`\n${textTable(rows)}\n\n${notes.join('\n')}\n\nFor docs/performance.md:\n\n${header.join('  \n')}\n\n${markdownTable(rows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}

/** What the round-trip columns count, with the counts they were made from. */
function describeRoundTrips(ordering: Ordering, { counts }: RoundTripReport): string {
  const { ingest, transaction, completion, read } = counts;
  return (
    `ordering ${ordering}: round trips to PostgreSQL from the run's first webhook to its drain (warm-up excluded): ` +
    `${formatNumber(ingest.roundTrips)} in ${formatNumber(ingest.operations)} ingests (per webhook); ` +
    `${formatNumber(transaction.roundTrips)} in ${formatNumber(transaction.operations)} transactions (claims, lease renewals, rollups) ` +
    `and ${formatNumber(completion.roundTrips)} in ${formatNumber(completion.operations)} completions (per delivery: both ÷ completions); ` +
    `${formatNumber(read.roundTrips)} in ${formatNumber(read.operations)} reads besides. A count, not a time: it does not depend on the machine's load.`
  );
}

/** The one-room scenario: spread and one-room bursts in turns, for this checkout and the baseline's if given. */
async function runRoomBursts(): Promise<void> {
  const events = wholeNumber('--events', flags.events!);
  const rounds = wholeNumber('--rounds', flags.rounds!);
  const checkouts = [{ name: 'this checkout', path: ROOT }, ...(flags.baseline ? [{ name: 'baseline', path: resolve(flags.baseline) }] : [])];
  const burstHeader = [
    describeRun('bench:deliver --scenario one-room'),
    `Setup: ${store}, WORKER_CONCURRENCY=${setup.concurrency ?? 'default'}; one rule forwards every event with the http plugin (async, ordering per room) ` +
      `to a counting receiver that answers at once. Each burst: ${events} participant_joined events posted ${'as fast as answered'}, then drained; ` +
      `${rounds} round(s) of spread (${events} rooms) then one room, on fresh stores${flags.baseline ? `; baseline = ${resolve(flags.baseline)}` : ''}.`,
  ];
  console.log(burstHeader.join('\n'));
  const results: Array<{ checkout: string; round: number; spread: BurstResult; oneRoom: BurstResult }> = [];
  for (let round = 1; round <= rounds; round++) {
    for (const checkout of checkouts) {
      const spread = await measureRoomBurst(setup, checkout.path, events, events);
      const oneRoom = await measureRoomBurst(setup, checkout.path, 1, events);
      results.push({ checkout: checkout.name, round, spread, oneRoom });
      console.log(`${checkout.name}, round ${round}: spread ${formatNumber(spread.deliveredPerSecond)}/s, one room ${formatNumber(oneRoom.deliveredPerSecond)}/s`);
    }
  }
  const rows = [
    ['checkout', 'round', 'spread deliveries/s', 'one-room deliveries/s', 'one room ÷ spread', 'one-room drain s', 'in order'],
    ...results.map(({ checkout, round, spread, oneRoom }) => [
      checkout,
      String(round),
      formatNumber(spread.deliveredPerSecond),
      formatNumber(oneRoom.deliveredPerSecond),
      formatNumber(oneRoom.deliveredPerSecond / spread.deliveredPerSecond, 2),
      formatNumber(oneRoom.elapsedMs / 1000, 2),
      String(spread.inOrder && oneRoom.inOrder),
    ]),
  ];
  const mine = results.filter((result) => result.checkout === 'this checkout');
  const ratio = Math.min(...mine.map(({ spread, oneRoom }) => oneRoom.deliveredPerSecond / spread.deliveredPerSecond));
  const notes = [
    `one room at least 0.5× the spread rate in every round: ${verdict(ratio >= 0.5)} (lowest ${formatNumber(ratio, 2)}×)`,
    'deliveries/s: events of the burst ÷ time from its first post to its last arrival at the receiver.',
  ];
  console.log(`\n${textTable(rows)}\n\n${notes.join('\n')}\n\nFor docs/performance.md:\n\n${burstHeader.join('  \n')}\n\n${markdownTable(rows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
  const problems = results.flatMap(({ spread, oneRoom }) => [...spread.problems, ...oneRoom.problems]);
  if (problems.length > 0) {
    console.error(`\nFAILED:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
}
