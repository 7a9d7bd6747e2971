/**
 * `npm run bench:deliver`: events from webhook through the durable queue to a receiver, and the ingest latency
 * meanwhile, after the bare baseline at the same rate (the machine's own floor); on PostgreSQL, round trips too.
 * Flags: --db sqlite|postgres (SWITCHBOARD_TEST_PG_URL) --replicas <n> --rate <events/s> (1,000) --duration <s> (20)
 * --ordering both|none|room.
 * `--scenario one-room`: bursts of `--events` (200) participant joins over as many rooms and in one room, in turns
 * (`--rounds`, 2); `--baseline <checkout>` runs another checkout's Switchboard in the same turns.
 */
import { resolve } from 'node:path';
import { describeForeignCpu } from './cpu-usage.ts';
import { measureDelivery, measureRoomBurst, type BurstResult, type DeliveryResult, type DeliverySetup, type Ordering, type RoundTripCounts } from './delivery-run.ts';
import { readFlags } from './flags.ts';
import { fixedRateRuns, loadProblems, type LoadResult } from './load.ts';
import { describeRun, failOn, formatMs, formatNumber, printReport, verdict } from './report.ts';
import { prepareRun, ROOT, startBaseline, startCountingReceiver } from './setup.ts';
import { roomScopedEvents } from './webhook-events.ts';

const DELIVERIES_TARGET = 1_000;
const P99_TARGET_MS = 20;
/**
 * What the receiver gets during the load window falls short of what was sent in it by the deliveries still in
 * flight at its end: a pipeline's latency, not a lack of throughput. Up to this share still counts as keeping up.
 */
const IN_FLIGHT_ALLOWANCE = 0.01;
// LiveKit's tokens live five minutes; every run's deliveries are signed just before it, and must outlive it.
const MAX_DURATION_S = 240;

const flags = readFlags(['db', 'replicas', 'rate', 'duration', 'ordering', 'scenario', 'events', 'rounds', 'baseline']);
const scenario = flags.choice('scenario', ['load', 'one-room']);
const db = flags.choice('db', ['sqlite', 'postgres']);
const replicas = flags.number('replicas', 1, true);
if (db === 'sqlite' && replicas > 1) throw new Error(`--replicas ${replicas} needs --db postgres: SQLite is for one process`);
const rate = flags.number('rate', DELIVERIES_TARGET);
const duration = flags.number('duration', 20);
if (duration > MAX_DURATION_S) throw new Error(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);
const ordering = flags.choice('ordering', ['both', 'none', 'room']);
const orderings: Ordering[] = ordering === 'both' ? ['none', 'room'] : [ordering];

const { workDir, credentials } = prepareRun('deliver');
const receiver = await startCountingReceiver();
const setup: DeliverySetup = { db, replicas, workDir, credentials, receiver, warmupSeconds: 3 };
const store = db === 'sqlite' ? 'SQLite' : `PostgreSQL ×${replicas}`;
const concurrency = process.env.WORKER_CONCURRENCY ?? 'default';
if (scenario === 'one-room') await runRoomBursts();
else await runLoad();
await receiver.stop();

async function runLoad(): Promise<void> {
  const header = [
    describeRun('bench:deliver'),
    `Setup: ${store}, WORKER_CONCURRENCY=${concurrency} per replica; one rule forwards every event with the http plugin (async) ` +
      `to a counting receiver in its own process. Load: distinct signed events open loop at ${formatNumber(rate)}/s for ${duration} s ` +
      `after a ${setup.warmupSeconds} s warm-up${replicas > 1 ? ', round-robin over the replicas' : ''}; the queue then drains.`,
  ];
  console.log(header.join('\n'));
  const variants: Array<{ ordering: Ordering; floor: LoadResult; run: DeliveryResult }> = [];
  for (const ordering of orderings) {
    const floor = await measureFloor();
    console.log(`ordering ${ordering}: the bare baseline's p99 at ${formatNumber(rate)} events/s: ${formatMs(floor.latency.p99)} ms; Switchboard…`);
    variants.push({ ordering, floor, run: await measureDelivery(setup, ROOT, ordering, rate, duration) });
  }
  const perWebhook = ({ ingest }: RoundTripCounts) => ingest.roundTrips / ingest.operations;
  const perDelivery = ({ transaction, completion, claim }: RoundTripCounts) =>
    (transaction.roundTrips + completion.roundTrips + claim.roundTrips) / completion.operations;
  const rows = [
    ['store', 'ordering', 'offered/s', 'delivered/s', 'drain s', 'max backlog', 'ingest p50 ms', 'ingest p99 ms', 'floor p99 ms', 'delivery p99 ms',
      'Switchboard cores', 'main thread', 'receiver cores', 'load-gen cores', 'lost', 'redelivered', 'round trips/webhook', 'round trips/delivery'],
    ...variants.map(({ ordering, floor, run }) => [
      store, ordering, formatNumber(run.rate), formatNumber(run.deliveredPerSecond), formatNumber(run.drainMs / 1000, 2), formatNumber(run.maxBacklog),
      ...[run.ingest.latency.p50, run.ingest.latency.p99, floor.latency.p99, run.endToEnd.p99].map(formatMs),
      ...[run.cores.server, run.cores.serverMainThread, run.cores.receiver, run.cores.generator].map(formatMs),
      ...[run.queued - run.delivered, run.redelivered].map((count) => formatNumber(count)),
      ...(run.roundTrips ? [perWebhook(run.roundTrips), perDelivery(run.roundTrips)] : [NaN, NaN]).map(formatMs),
    ]),
  ];
  const notes = variants.map(({ ordering, run }) =>
    `ordering ${ordering}: ${formatNumber(run.deliveredPerSecond)} deliveries/s sustained (target ≥ ${formatNumber(DELIVERIES_TARGET)}: ` +
      `${verdict(run.deliveredPerSecond >= DELIVERIES_TARGET * (1 - IN_FLIGHT_ALLOWANCE) && Number.isFinite(run.drainMs))}); ` +
      `ingest p99 while delivering ${formatMs(run.ingest.latency.p99)} ms (target ≤ ${P99_TARGET_MS} ms: ${verdict(run.ingest.latency.p99 <= P99_TARGET_MS)}); ` +
      `the load generator sent late by up to ${formatMs(run.ingest.sendLatenessP99Ms!)} ms (p99)`,
  );
  notes.push(
    "delivered/s: distinct events the receiver got during the load window, per second of it. Floor: the bare baseline's p99 at the same rate, " +
      'delivering nothing. Delivery p99: from the moment an event was due to its arrival at the receiver. Max backlog: acknowledged, not yet delivered.',
    ...variants.flatMap(({ ordering, run }) => (run.roundTrips ? [describeRoundTrips(ordering, run.roundTrips)] : [])),
    describeForeignCpu(Math.max(...variants.map(({ run }) => run.cores.foreign)), `during the busiest load window${db === 'postgres' ? ' (PostgreSQL included)' : ''}`),
  );
  printReport(header, [rows], notes);
  const problems = variants.flatMap(({ ordering, run }) => run.problems.map((problem) => `ordering ${ordering}: ${problem}`));
  failOn(problems, 'these results are not valid measurements of the delivery path');
}

/** The bare baseline at the benchmark's rate, for its duration: what the machine's own tail is. */
async function measureFloor(): Promise<LoadResult> {
  const server = await startBaseline(credentials);
  const runs = fixedRateRuns(server, rate, roomScopedEvents(), credentials);
  await runs.run(setup.warmupSeconds);
  const floor = await runs.run(duration);
  runs.close();
  await server.stop();
  if (loadProblems(floor, 'run').length > 0) throw new Error(`the baseline failed: ${loadProblems(floor, 'run').join('; ')}`);
  return floor;
}

/** What the round-trip columns count, with the counts they were made from. */
function describeRoundTrips(ordering: Ordering, counts: RoundTripCounts): string {
  const [ingest, transactions, completions, claims, reads] = (['ingest', 'transaction', 'completion', 'claim', 'read'] as const).map(
    (kind) => `${formatNumber(counts[kind].roundTrips)} in ${formatNumber(counts[kind].operations)}`,
  );
  return (
    `ordering ${ordering}: round trips to PostgreSQL from the run's first webhook to its drain (warm-up excluded): ${ingest} ingests ` +
    `(per webhook); ${claims} claims, ${transactions} transactions (lease renewals, rollups) and ${completions} completions (per ` +
    `delivery: the three ÷ completions); ${reads} reads besides. A count, not a time: it does not depend on the machine's load.`
  );
}

/** The one-room scenario: spread and one-room bursts in turns, for this checkout and the baseline's if given. */
async function runRoomBursts(): Promise<void> {
  const events = flags.number('events', 200, true);
  const rounds = flags.number('rounds', 2, true);
  const baseline = flags.text('baseline');
  const checkouts = [{ name: 'this checkout', path: ROOT }, ...(baseline ? [{ name: 'baseline', path: resolve(baseline) }] : [])];
  const header = [
    describeRun('bench:deliver'),
    `Setup: ${store}, WORKER_CONCURRENCY=${concurrency}; one rule forwards every event with the http plugin (async, ordering per room) ` +
      `to a counting receiver that answers at once. Each burst: ${events} participant_joined events posted as fast as answered, then drained; ` +
      `${rounds} round(s) of spread (${events} rooms) then one room, on fresh stores${baseline ? `; baseline = ${resolve(baseline)}` : ''}.`,
  ];
  console.log(header.join('\n'));
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
      checkout, String(round), formatNumber(spread.deliveredPerSecond), formatNumber(oneRoom.deliveredPerSecond),
      formatNumber(oneRoom.deliveredPerSecond / spread.deliveredPerSecond, 2), formatNumber(oneRoom.elapsedMs / 1000, 2), String(spread.inOrder && oneRoom.inOrder),
    ]),
  ];
  const mine = results.filter((result) => result.checkout === 'this checkout');
  const ratio = Math.min(...mine.map(({ spread, oneRoom }) => oneRoom.deliveredPerSecond / spread.deliveredPerSecond));
  printReport(header, [rows], [
    `one room at least 0.5× the spread rate in every round: ${verdict(ratio >= 0.5)} (lowest ${formatNumber(ratio, 2)}×)`,
    'deliveries/s: events of the burst ÷ time from its first post to its last arrival at the receiver.',
  ]);
  failOn(results.flatMap(({ spread, oneRoom }) => [...spread.problems, ...oneRoom.problems]));
}
