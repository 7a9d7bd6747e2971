/**
 * `npm run bench:deliver`: events/s from webhook to a third-party endpoint through Switchboard's durable delivery
 * queue, and the ingest latency while delivering. One rule forwards every event with the `http` plugin (async) to
 * a counting receiver in a process of its own; unique signed events arrive at a fixed rate, spread round-robin over
 * the replicas; after the load the queue drains. Before each variant, the ingest benchmark's bare baseline runs at the
 * same rate, for the machine's own latency floor. Flags: --db sqlite|postgres --replicas <n> --rate <events/s>
 * --duration <s> --quick --concurrency <n> --ordering none|room|both --pool-size <n> --pg-url <url> --max --cpu-prof.
 * With --against <checkout> [--rounds <n>] it compares instead: this checkout's Switchboard (A) and the other's (B)
 * in turns, A B B A…, one ordering, no floor, and prints each run and the medians.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import type { LiveKitEvent } from '../src/livekit/event-types.ts';
import { DEFAULT_POOL_SIZE } from '../src/store/postgres/connection.ts';
import { printProfiles } from './cpu-profile.ts';
import { describeForeignCpu, startForeignCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { describeFlushLatency, measureFlushLatency } from './disk-check.ts';
import { positiveNumber } from './flags.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { percentiles, runAtFixedRate, TAIL_WINDOW_MS, type LoadResult, type Tail } from './load.ts';
import { startPostgresCpuMeter } from './postgres-cpu.ts';
import { startCountingReceiver, type CountingReceiver } from './receiver.ts';
import { describeCode, describeMachine, formatNumber, machine, markdownTable, median, microsPerEvent, textTable, verdict } from './report.ts';
import { startServerProcess, switchboardEnvironment, type ServerProcess } from './server-process.ts';
import { createEventSource, signedDeliveries, type EventSource, type SignedDelivery } from './webhook-events.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BASELINE = join(ROOT, 'bench/servers/baseline.ts');
const DELIVERIES_TARGET = 1_000;
const P99_TARGET_MS = 20;
/**
 * What the receiver gets during the load window falls short of what was sent in it by the deliveries still in
 * flight at its end: a pipeline's latency, not a lack of throughput. Up to this share of shortfall still counts as
 * keeping up.
 */
const IN_FLIGHT_ALLOWANCE = 0.01;
// LiveKit's tokens live five minutes; every run's deliveries are signed just before it, and must outlive it.
const MAX_DURATION_S = 240;
/** Concurrent rooms: each event belongs to one, so ordering keys repeat about every ROOMS / rate seconds. */
const ROOMS = 500;
const MAX_STEP = 500;
const MAX_STEPS = 12;
const PROGRESS_INTERVAL_MS = 1_000;
const DRAIN_POLL_MS = 50;
const SETTLE_TIMEOUT_MS = 10_000;

type Database = 'sqlite' | 'postgres';
type Ordering = 'none' | 'room';

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
    max: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    against: { type: 'string' },
    rounds: { type: 'string' },
  },
});

/** The server's own default and validation for WORKER_CONCURRENCY. */
function workerConcurrency(value: string | undefined): number {
  try {
    return loadConfig({ env: { LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's', ...(value !== undefined && { WORKER_CONCURRENCY: value }) } }).workerConcurrency;
  } catch (error) {
    refuse(`--concurrency: ${(error as Error).message}`);
  }
}

function refuse(message: string): never {
  console.error(`bench:deliver: ${message}`);
  process.exit(2);
}

if (flags.db !== 'sqlite' && flags.db !== 'postgres') refuse(`--db is "${flags.db}": expected sqlite or postgres`);
const db: Database = flags.db;
const replicas = positiveNumber('--replicas', flags.replicas!);
if (!Number.isInteger(replicas)) refuse(`--replicas is "${flags.replicas}": expected a whole number`);
if (db === 'sqlite' && replicas > 1) {
  refuse(`--replicas ${replicas} needs --db postgres: SQLite is single-process, so several replicas cannot share it`);
}
const rate = positiveNumber('--rate', flags.rate!);
const duration = positiveNumber('--duration', flags.duration ?? (flags.quick ? '5' : '20'));
if (duration > MAX_DURATION_S) refuse(`--duration is at most ${MAX_DURATION_S} s: LiveKit's tokens expire after 5 minutes`);
const warmupSeconds = flags.quick ? 1 : 3;
const concurrency = workerConcurrency(flags.concurrency);
if (concurrency === 0) refuse('--concurrency 0 runs no deliveries');
const poolSize = positiveNumber('--pool-size', flags['pool-size'] ?? String(DEFAULT_POOL_SIZE));
if (!Number.isInteger(poolSize)) refuse(`--pool-size is "${flags['pool-size']}": expected a whole number`);
const orderings: Ordering[] = ({ none: ['none'], room: ['room'], both: ['none', 'room'] } as const satisfies Record<string, Ordering[]>)[
  flags.ordering as 'none' | 'room' | 'both'
] ?? refuse(`--ordering is "${flags.ordering}": expected none, room or both`);
const comparison = flags.against === undefined ? undefined : { A: ROOT, B: resolve(flags.against) };
const rounds = Math.round(positiveNumber('--rounds', flags.rounds ?? '3'));
if (comparison) {
  if (orderings.length > 1) refuse('--against compares one ordering: add --ordering none or --ordering room');
  if (flags.max) refuse('--against and --max do not go together');
  if (!existsSync(switchboardScript(comparison.B))) refuse(`--against: ${comparison.B} is not a checkout of this project (no bench/servers/switchboard.ts)`);
} else if (flags.rounds !== undefined) {
  refuse('--rounds goes with --against');
}

const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-deliver-'));
// Kept after the run, to open in a profiler.
const profileDir = flags['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'switchboard-deliver-profile-')) : '';
const schemasToDrop = new Set<string>();
// However the benchmark ends, the temporary rules and databases go with it (and the servers: see server-process.ts).
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => void dropSchemas().finally(() => process.exit(130)));
const drainLimitMs = Math.max(60, 3 * duration) * 1000;
const stepsPerVariant = flags.max ? MAX_STEPS : 1;
setTimeout(
  () => {
    console.error('benchmark watchdog: giving up after its time budget; the servers are stopped with it');
    void dropSchemas().finally(() => process.exit(2));
  },
  (comparison
    ? 2 * rounds * (60 + warmupSeconds + duration + drainLimitMs / 1000 + 15) + 120
    : orderings.length * (60 + 2 * warmupSeconds + duration + stepsPerVariant * (duration + drainLimitMs / 1000 + 15)) + 120) * 1000,
).unref();

const setup = db === 'sqlite' ? 'SQLite' : `PostgreSQL ×${replicas}`;
const command = `npm run bench:deliver${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const header = [
  `Switchboard delivery benchmark, ${describeCode()}: ${describeMachine(machine())}; load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`,
  `Command: ${command}`,
  ...(comparison ? [`Comparing A = ${comparison.A} with B = ${comparison.B}, ${rounds} rounds in turns (A B, B A, …)`] : []),
  `Setup: ${setup} (${db === 'sqlite' ? `in ${tmpdir()}` : `a fresh schema per run, pool_size=${poolSize} per replica`}), ` +
    `WORKER_CONCURRENCY=${concurrency} per replica, LOG_LEVEL=warn; one rule forwards every event with the http plugin (async) ` +
    `to a counting receiver in its own process; events of ${formatNumber(ROOMS)} concurrent rooms.`,
  `Load: every request a distinct event, signed as LiveKit signs it, open loop at ${formatNumber(rate)} events/s for ${duration} s ` +
    `(after a ${warmupSeconds} s warm-up)${replicas > 1 ? ', round-robin over the replicas' : ''}` +
    (flags.max ? `, then +${MAX_STEP}/s per step until deliveries fall behind or ingest p99 > ${P99_TARGET_MS} ms` : '') +
    '; the queue then drains.' +
    (flags['cpu-prof'] ? ' Switchboard runs under --cpu-prof: its figures are lower than without.' : ''),
];
console.log(header.join('\n'));

interface Step {
  rate: number;
  /** The replicas' loads together; latency percentiles are the highest replica's (an upper bound of the combined). */
  ingest: LoadResult;
  queued: number;
  /** Distinct events the receiver got during the load window, per second of it. */
  deliveredPerSecond: number;
  delivered: number;
  /** From the end of the load window to the last delivery; NaN when the queue did not drain in time. */
  drainMs: number;
  /** The most events acknowledged to LiveKit but not yet at the receiver, at any moment. */
  maxBacklog: number;
  /** From each event's due time (sent) to its arrival at the receiver, ms. */
  endToEnd: { p50: number; p99: number };
  /** Requests the receiver got for an event it already had. */
  redelivered: number;
  /** `switchboardMainThread`: the busiest replica's event loop alone. */
  cores: { switchboard: number; switchboardMainThread: number; postgres: number; receiver: number; generator: number; foreign: number };
  problems: string[];
}

interface Variant {
  ordering: Ordering;
  /**
   * The machine's own tail just before the variant: the ingest benchmark's baseline (a bare server that only
   * verifies each delivery) at the same rate, for as long. A p99 target below it cannot be shown on this machine.
   */
  floor: LoadResult;
  steps: Step[];
  /** `switchboard_deliveries` by state once the queue settled after the last step. */
  states: Record<string, number>;
  problems: string[];
}

if (db === 'postgres') await requirePostgres();
const diskBefore = await measureFlushLatency(workDir);
const receiver = await startCountingReceiver();
const variants: Variant[] = [];
const compared: ComparedRun[] = [];
try {
  if (comparison) {
    for (let round = 0; round < rounds; round++) {
      for (const name of round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const run = await measureSwitchboard(orderings[0], comparison[name]);
        compared.push({ name, round, ...run });
        console.log(`${name}, round ${round + 1}: ${describeStep(run.steps[0])}`);
      }
    }
  } else {
    for (const ordering of orderings) variants.push(await measureVariant(ordering));
  }
} finally {
  await receiver.stop();
  await dropSchemas();
}
const disk = describeFlushLatency(diskBefore, await measureFlushLatency(workDir));
if (comparison) reportComparison(compared, disk);
else report(variants, disk);
if (flags['cpu-prof']) printProfiles(profileDir);

const problems = [
  ...variants.flatMap((variant) => [...variant.problems, ...variant.steps.flatMap((step) => step.problems)].map((problem) => `ordering ${variant.ordering}: ${problem}`)),
  ...compared.flatMap((run) => [...run.problems, ...run.steps.flatMap((step) => step.problems)].map((problem) => `${run.name}, round ${run.round + 1}: ${problem}`)),
];
if (problems.length > 0) {
  console.error(`\nFAILED: these results are not valid measurements of the delivery path:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}

async function measureVariant(ordering: Ordering): Promise<Variant> {
  const floor = await measureFloor();
  console.log(`\nordering: ${ordering}: the bare baseline's p99 at ${formatNumber(rate)} events/s: ${formatNumber(floor.latency.p99, 2)} ms`);
  return { ordering, floor, ...(await measureSwitchboard(ordering, ROOT)) };
}

/** One comparison run: which checkout, in which round. */
interface ComparedRun extends Omit<Variant, 'ordering' | 'floor'> {
  name: 'A' | 'B';
  round: number;
}

function switchboardScript(checkout: string): string {
  return join(checkout, 'bench/servers/switchboard.ts');
}

/** The Switchboard of `checkout` (its server script and plugins) on a fresh store: a warm-up, then the steps. */
async function measureSwitchboard(ordering: Ordering, checkout: string): Promise<Omit<Variant, 'ordering' | 'floor'>> {
  console.log(`ordering: ${ordering}: starting ${replicas > 1 ? `${replicas} replicas` : 'Switchboard'}${checkout === ROOT ? '' : ` of ${checkout}`}…`);
  const database = freshDatabase();
  const rulesDir = writeForwardingRule(ordering);
  const servers = await Promise.all(
    Array.from({ length: replicas }, () =>
      startServerProcess(switchboardScript(checkout), {
        env: {
          ...switchboardEnvironment({ credentials, rulesDir, pluginsDir: join(checkout, 'plugins'), databaseUrl: database.url }),
          WORKER_CONCURRENCY: String(concurrency),
        },
        execArgv: flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      }),
    ),
  );
  const source = roomScopedEvents();
  // The warm-up's connections carry the measured runs too, as LiveKit's keep-alive connections would.
  const clients = servers.map((server) => new KeepAliveClient(new URL(server.url)));
  try {
    const warmup = await deliverAtRate(servers, clients, source, rate, warmupSeconds);
    console.log(`ordering: ${ordering}: warm-up ${describeStep(warmup)}`);
    const steps: Step[] = [];
    let queued = warmup.queued;
    for (let stepRate = rate; steps.length < stepsPerVariant; stepRate += MAX_STEP) {
      const step = await deliverAtRate(servers, clients, source, stepRate, duration);
      queued += step.queued;
      steps.push(step);
      console.log(`ordering: ${ordering}: ${describeStep(step)}`);
      if (!keepsUp(step)) break;
    }
    const states = await settledDeliveryStates(servers[0]);
    return { steps, states, problems: checkStates(states, queued) };
  } finally {
    for (const client of clients) client.destroy();
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  }
}

/** The bare baseline at the benchmark's rate, for its duration; any non-2xx answer or error voids the benchmark. */
async function measureFloor(): Promise<LoadResult> {
  const server = await startServerProcess(BASELINE, { env: { LIVEKIT_API_KEY: credentials.apiKey, LIVEKIT_API_SECRET: credentials.apiSecret } });
  const client = new KeepAliveClient(new URL(server.url));
  try {
    const source = roomScopedEvents();
    const target = { url: server.url, serverPid: server.pid, rate, client };
    await runAtFixedRate({ ...target, duration: warmupSeconds, deliveries: await sign(source, Math.round(rate * warmupSeconds)) });
    const floor = await runAtFixedRate({ ...target, duration, deliveries: await sign(source, Math.round(rate * duration)) });
    if (floor.non2xx + floor.errors > 0) throw new Error(`the baseline answered ${floor.non2xx} non-2xx and had ${floor.errors} errors`);
    return floor;
  } finally {
    client.destroy();
    await server.stop();
  }
}

/** One open-loop run at `stepRate` for `seconds`, then the drain: what the receiver got, when, and what it cost. */
async function deliverAtRate(servers: ServerProcess[], clients: KeepAliveClient[], source: EventSource, stepRate: number, seconds: number): Promise<Step> {
  const perReplica = Math.round((stepRate * seconds) / servers.length);
  const deliveries = await sign(source, perReplica * servers.length);
  const indexOf = new Map(deliveries.map((delivery, index) => [(JSON.parse(delivery.body) as LiveKitEvent).id!, index]));
  const answers = checkAnswers(indexOf);
  await receiver.takeArrivals();
  const before = await receiver.counts();
  const delivered = async () => (await receiver.counts()).unique - before.unique;

  const ourPids = [process.pid, receiver.pid, ...servers.map((server) => server.pid)];
  const foreignCpu = startForeignCpuMeter(ourPids);
  const receiverCpu = startProcessCpuMeter([receiver.pid]);
  const postgresCpu = db === 'postgres' ? startPostgresCpuMeter() : undefined;
  const interval = 1000 / stepRate;
  const progressFrom = wallClock();
  const progress = reportProgress(progressFrom, () => answers.queued, delivered);
  // Replica i takes events i, i + n, i + 2n…: started one interval apart, they send in turn.
  const loads = await Promise.all(
    servers.map(async (server, replica) => {
      await sleep(replica * interval);
      return runAtFixedRate({
        url: server.url,
        serverPid: server.pid,
        rate: stepRate / servers.length,
        duration: seconds,
        deliveries: deliveries.filter((_, index) => index % servers.length === replica),
        inspect: answers.inspect,
        client: clients[replica],
      });
    }),
  );
  const ingest = combine(loads);
  const replicaStarts = loads.map((load) => load.startedAt!);
  const start = Math.min(...replicaStarts);
  const postgresCores = postgresCpu?.read() ?? 0;
  const cores = {
    switchboard: ingest.cores.server,
    switchboardMainThread: ingest.cores.serverMainThread,
    postgres: postgresCores,
    receiver: receiverCpu.read(),
    generator: ingest.cores.generator,
    foreign: foreignCpu.read() - postgresCores,
  };

  const windowEnd = start + seconds * 1000;
  const drainDeadline = performance.now() + drainLimitMs;
  while ((await delivered()) < answers.queued && performance.now() < drainDeadline) await sleep(DRAIN_POLL_MS);
  progress.stop();
  const after = await receiver.counts();
  const arrivals = await receiver.takeArrivals();

  const arrivedAt: number[] = [];
  const endToEnd: number[] = [];
  for (let i = 0; i < arrivals.ids.length; i++) {
    const index = indexOf.get(arrivals.ids[i]);
    if (index === undefined) continue;
    const replica = index % servers.length;
    const due = replicaStarts[replica] + Math.floor(index / servers.length) * servers.length * interval;
    arrivedAt.push(arrivals.at[i]);
    endToEnd.push(arrivals.at[i] - due);
  }
  const complete = arrivedAt.length >= answers.queued;
  const problems = answers.problems();
  if (!complete) {
    problems.push(`${formatNumber(answers.queued - arrivedAt.length)} of ${formatNumber(answers.queued)} queued events had not reached the receiver ${drainLimitMs / 1000} s after the load`);
  }
  if (after.unreadable > before.unreadable) problems.push(`${after.unreadable - before.unreadable} deliveries reached the receiver without an event id`);
  if (ingest.non2xx > 0) problems.push(`${ingest.non2xx} non-2xx webhook answers`);
  if (ingest.errors > 0) problems.push(`${ingest.errors} webhook connection errors or timeouts`);

  return {
    rate: stepRate,
    ingest,
    queued: answers.queued,
    delivered: arrivedAt.length,
    deliveredPerSecond: arrivedAt.filter((at) => at >= start && at < windowEnd).length / seconds,
    drainMs: complete ? Math.max(0, arrivedAt.reduce((last, at) => Math.max(last, at), 0) - windowEnd) : NaN,
    maxBacklog: maxBacklog(answers.ackedAt, arrivedAt),
    endToEnd: percentiles(endToEnd),
    redelivered: after.requests - before.requests - (after.unique - before.unique),
    cores,
    problems,
  };
}

/** The replicas' runs as one: counts summed, latency percentiles the highest replica's. */
function combine(loads: LoadResult[]): LoadResult {
  const sum = (pick: (load: LoadResult) => number) => loads.reduce((total, load) => total + pick(load), 0);
  const highest = (pick: (load: LoadResult) => number) => Math.max(...loads.map(pick));
  const seconds = highest((load) => load.seconds);
  return {
    sent: sum((load) => load.sent),
    ok: sum((load) => load.ok),
    non2xx: sum((load) => load.non2xx),
    errors: sum((load) => load.errors),
    seconds,
    eventsPerSecond: sum((load) => load.ok) / seconds,
    latency: { p50: highest((load) => load.latency.p50), p99: highest((load) => load.latency.p99), max: highest((load) => load.latency.max) },
    cores: {
      server: sum((load) => load.cores.server),
      serverMainThread: highest((load) => load.cores.serverMainThread),
      generator: loads[0].cores.generator,
    },
    generatorMaxStallMs: highest((load) => load.generatorMaxStallMs ?? 0),
    sendLatenessP99Ms: highest((load) => load.sendLatenessP99Ms ?? 0),
    // Windows of different replicas' runs do not line up.
    tail: loads.length === 1 ? loads[0].tail : undefined,
  };
}

function describeTail(ordering: Ordering, tail: Tail): string {
  const busiest = tail.busiest.map((window) => `${formatNumber(window.atMs / 1000, 2)} s (${formatNumber(window.count)})`).join(', ');
  return (
    `Where the slowest answers fell (ordering: ${ordering}): the slowest 1% (${formatNumber(tail.count)}) were due in ` +
    `${formatNumber(tail.windowsWithTail)} of the run's ${formatNumber(tail.windows)} windows of ${TAIL_WINDOW_MS} ms; the most in those from ${busiest} into the run`
  );
}

function keepsUp(step: Step): boolean {
  return step.problems.length === 0 && step.deliveredPerSecond >= step.rate * (1 - IN_FLIGHT_ALLOWANCE) && step.ingest.latency.p99 <= P99_TARGET_MS;
}

/**
 * The benchmark's events, by `ROOMS` rooms in turn; an egress or ingress belongs to its room, as in LiveKit, so
 * that every ordering key (room name, egress id, ingress id) repeats at the same pace.
 */
function roomScopedEvents(): EventSource {
  let room = '';
  // The source asks for each event's room while it builds that event.
  const source = createEventSource({ room: (n) => (room = `session-${n % ROOMS}`) });
  return {
    next() {
      const event = source.next();
      if (event.egressInfo) event.egressInfo.egressId = `EG_${room}`;
      if (event.ingressInfo) event.ingressInfo.ingressId = `IN_${room}`;
      return event;
    },
  };
}

async function sign(source: EventSource, count: number): Promise<SignedDelivery[]> {
  const deliveries = await signedDeliveries(source, count, credentials);
  // `npm run bench:deliver` passes --expose-gc; without it, a collection may land inside a run.
  (globalThis as { gc?: () => void }).gc?.();
  return deliveries;
}

interface AnswerCheck {
  inspect(status: number, body: string): void;
  /** Events acknowledged with their forwarding action queued. */
  readonly queued: number;
  /** Wall-clock time each of them was acknowledged, in acknowledgement order. */
  readonly ackedAt: number[];
  problems(): string[];
}

/** Each answer must show the path measured: a new event whose one action, the forwarding, was queued. */
function checkAnswers(indexOf: ReadonlyMap<string, number>): AnswerCheck {
  const ackedAt: number[] = [];
  let unexpected = 0;
  let firstUnexpected: string | undefined;
  return {
    inspect(status, body) {
      const results = status >= 200 && status < 300 ? (JSON.parse(body) as { results: AnswerResults }).results : undefined;
      if (results && !results.duplicate && indexOf.has(results.event_id) && results.actions.length === 1 && results.actions[0].status === 'queued') {
        ackedAt.push(wallClock());
        return;
      }
      unexpected++;
      firstUnexpected ??= `${status} ${body}`;
    },
    get queued() {
      return ackedAt.length;
    },
    ackedAt,
    problems: () => (unexpected === 0 ? [] : [`${unexpected} webhook answers did not queue exactly one delivery for a new event, the first: ${firstUnexpected}`]),
  };
}

interface AnswerResults {
  event_id: string;
  duplicate: boolean;
  actions: Array<{ status: string }>;
}

/** The largest number of events acknowledged but not yet delivered at any moment; both lists in time order. */
function maxBacklog(ackedAt: readonly number[], arrivedAt: readonly number[]): number {
  const arrivals = [...arrivedAt].sort((a, b) => a - b);
  let delivered = 0;
  let most = 0;
  ackedAt.forEach((at, i) => {
    while (delivered < arrivals.length && arrivals[delivered] <= at) delivered++;
    most = Math.max(most, i + 1 - delivered);
  });
  return most;
}

/** Prints, every second, what has been acknowledged to LiveKit and what the receiver has, until stopped. */
function reportProgress(start: number, queued: () => number, delivered: () => Promise<number>): { stop(): void } {
  const timer = setInterval(async () => {
    const arrived = await delivered();
    const acknowledged = queued();
    console.log(`  ${formatNumber((wallClock() - start) / 1000, 0)} s: acknowledged ${formatNumber(acknowledged)}, delivered ${formatNumber(arrived)}, backlog ${formatNumber(acknowledged - arrived)}`);
  }, PROGRESS_INTERVAL_MS);
  return { stop: () => clearInterval(timer) };
}

/** `switchboard_deliveries` from /metrics, once nothing is pending or running any more (or the wait is over). */
async function settledDeliveryStates(server: ServerProcess): Promise<Record<string, number>> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    const states: Record<string, number> = {};
    for (const [, state, count] of text.matchAll(/^switchboard_deliveries\{state="([^"]+)"\} (\d+)$/gm)) states[state] = Number(count);
    const unsettled = (states.pending ?? 0) + (states.running ?? 0) + (states['failed-waiting-retry'] ?? 0);
    if (unsettled === 0 || performance.now() > deadline) return states;
    await sleep(100);
  }
}

function checkStates(states: Record<string, number>, queued: number): string[] {
  const problems = Object.entries(states)
    .filter(([state, count]) => state !== 'succeeded' && count > 0)
    .map(([state, count]) => `${formatNumber(count)} deliveries left ${state}`);
  if (states.succeeded !== queued) problems.push(`${formatNumber(states.succeeded ?? 0)} deliveries succeeded, ${formatNumber(queued)} were queued`);
  return problems;
}

function writeForwardingRule(ordering: Ordering): string {
  const dir = join(workDir, `rules-${ordering}`);
  mkdirSync(dir, { recursive: true });
  const rule = [
    'rules:',
    '  - id: forward-every-event',
    '    on: "*"',
    '    actions:',
    '      - plugin: http',
    '        mode: async',
    ...(ordering === 'none' ? ['        ordering: none'] : []),
    `        with: { url: "${receiver.url}" }`,
  ];
  writeFileSync(join(dir, 'forward.yaml'), `${rule.join('\n')}\n`);
  return dir;
}

/** An empty store for one variant: a SQLite file, or a PostgreSQL schema that the servers' migrations create. */
function freshDatabase(): { url: string; drop(): Promise<void> } {
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  if (db === 'sqlite') return { url: `file:${join(workDir, `${name}.db`)}`, drop: async () => {} };
  const url = new URL(flags['pg-url']!);
  url.searchParams.set('schema', name);
  url.searchParams.set('pool_size', String(poolSize));
  schemasToDrop.add(name);
  return {
    url: url.href,
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      schemasToDrop.delete(name);
    },
  };
}

async function dropSchemas(): Promise<void> {
  for (const name of schemasToDrop) {
    try {
      await adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      schemasToDrop.delete(name);
    } catch (error) {
      console.error(`could not drop the benchmark's schema ${name}: ${(error as Error).message}`);
    }
  }
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: flags['pg-url'], connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function requirePostgres(): Promise<void> {
  try {
    await adminQuery('SELECT 1');
  } catch (error) {
    refuse(`PostgreSQL is not reachable at ${new URL(flags['pg-url']!).host} (--pg-url): ${(error as Error).message}`);
  }
}

/** Milliseconds on the wall clock, to sub-millisecond precision, comparable with the receiver's process. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

function describeStep(step: Step): string {
  return (
    `${formatNumber(step.rate)} events/s offered: ${formatNumber(step.deliveredPerSecond)} delivered/s during the load, ` +
    `drained ${formatNumber(step.drainMs / 1000, 2)} s after it, ingest p99 ${formatNumber(step.ingest.latency.p99, 2)} ms`
  );
}

function report(results: Variant[], disk: string): void {
  const ms = (value: number) => formatNumber(value, 2);
  const cores = (value: number) => formatNumber(value, 2);
  const rows = [
    [
      'store',
      'ordering',
      'offered/s',
      'delivered/s',
      'drain s',
      'max backlog',
      'ingest p50 ms',
      'ingest p99 ms',
      'delivery p50 ms',
      'delivery p99 ms',
      'Switchboard cores',
      'main thread',
      ...(db === 'postgres' ? ['PostgreSQL cores'] : []),
      'receiver cores',
      'load-gen cores',
      'lost',
      'redelivered',
    ],
    ...results.flatMap((variant) =>
      variant.steps.map((step) => [
        setup,
        variant.ordering,
        formatNumber(step.rate),
        formatNumber(step.deliveredPerSecond),
        formatNumber(step.drainMs / 1000, 2),
        formatNumber(step.maxBacklog),
        ms(step.ingest.latency.p50),
        ms(step.ingest.latency.p99),
        ms(step.endToEnd.p50),
        ms(step.endToEnd.p99),
        cores(step.cores.switchboard),
        cores(step.cores.switchboardMainThread),
        ...(db === 'postgres' ? [cores(step.cores.postgres)] : []),
        cores(step.cores.receiver),
        cores(step.cores.generator),
        formatNumber(step.queued - step.delivered),
        formatNumber(step.redelivered),
      ]),
    ),
  ];

  const notes = results.flatMap((variant) => {
    const [fixed] = variant.steps;
    const sustained = fixed.deliveredPerSecond;
    const lines = [
      `Deliveries at ${formatNumber(fixed.rate)} events/s (ordering: ${variant.ordering}): ${formatNumber(sustained)}/s sustained during the load, ` +
        `the queue drained ${formatNumber(fixed.drainMs / 1000, 2)} s after it ` +
        `(target ≥ ${formatNumber(DELIVERIES_TARGET)} deliveries/s sustained: ${verdict(sustained >= DELIVERIES_TARGET * (1 - IN_FLIGHT_ALLOWANCE) && Number.isFinite(fixed.drainMs))})`,
      `Ingest p99 while delivering (ordering: ${variant.ordering}): ${ms(fixed.ingest.latency.p99)} ms ` +
        `(target ingest p99 ≤ ${P99_TARGET_MS} ms while delivering: ${verdict(fixed.ingest.latency.p99 <= P99_TARGET_MS)}); ` +
        `the machine's floor just before: the bare baseline's p99 at ${formatNumber(fixed.rate)} events/s, delivering nothing, ${ms(variant.floor.latency.p99)} ms; ` +
        `the load generator's own part: it sent requests late by up to ${ms(fixed.ingest.sendLatenessP99Ms ?? 0)} ms (p99)`,
    ];
    if (fixed.ingest.tail) lines.push(describeTail(variant.ordering, fixed.ingest.tail));
    if (flags.max) lines.push(describeMax(variant));
    lines.push(`Store afterwards (ordering: ${variant.ordering}): ${Object.entries(variant.states).filter(([, count]) => count > 0).map(([state, count]) => `${formatNumber(count)} ${state}`).join(', ')} deliveries`);
    return lines;
  });
  const steps = results.flatMap((variant) => variant.steps);
  notes.push(
    `delivered/s: distinct events the receiver got during the load window, per second of it; the verdict allows ${IN_FLIGHT_ALLOWANCE * 100}% ` +
      'for the deliveries still in flight at the window\'s end. Delivery latency: from the moment an event was due to be sent to its arrival at the receiver. ' +
      'Max backlog: events acknowledged to LiveKit but not yet at the receiver.',
    ...(replicas > 1 ? [`With ${replicas} replicas the ingest percentiles are the highest replica's own, an upper bound of the combined ones.`] : []),
    `Fixed-rate latency counts from each request's due time; the load generator's longest own stall: ${ms(Math.max(...steps.map((step) => step.ingest.generatorMaxStallMs ?? 0)))} ms`,
    describeForeignCpu(Math.max(...steps.map((step) => step.cores.foreign)), `during the busiest load window${db === 'postgres' ? ' (PostgreSQL counted as ours, including what other clients asked of it)' : ''}`),
    disk,
  );

  console.log(`\n${textTable(rows)}\n\n${notes.join('\n')}`);
  console.log('\nFor docs/benchmarks.md:\n');
  console.log(`${header.map((line) => `${line}  `).join('\n')}\n\n${markdownTable(rows)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}

/**
 * Each comparison run, then the medians per checkout. CPU is given per event (each with its one delivery), so two
 * runs at a slightly different achieved rate still compare.
 */
function reportComparison(runs: ComparedRun[], disk: string): void {
  const figures = (step: Step) => ({
    p50: step.ingest.latency.p50,
    p99: step.ingest.latency.p99,
    delivered: step.deliveredPerSecond,
    cpu: microsPerEvent(step.cores.switchboard, step.ingest.eventsPerSecond),
    mainThread: microsPerEvent(step.cores.switchboardMainThread, step.ingest.eventsPerSecond),
  });
  const columns = ['ingest p50 ms', 'ingest p99 ms', 'delivered/s', 'µs CPU/event', 'µs main thread/event'];
  const cells = (f: ReturnType<typeof figures>) => [
    formatNumber(f.p50, 2),
    formatNumber(f.p99, 2),
    formatNumber(f.delivered),
    formatNumber(f.cpu),
    formatNumber(f.mainThread),
  ];
  const perRun = [['checkout', 'round', ...columns], ...runs.map((run) => [run.name, String(run.round + 1), ...cells(figures(run.steps[0]))])];
  const medianOf = (name: 'A' | 'B') => {
    const all = runs.filter((run) => run.name === name).map((run) => figures(run.steps[0]));
    const pick = (key: keyof ReturnType<typeof figures>) => median(all.map((f) => f[key]));
    return [name, ...cells({ p50: pick('p50'), p99: pick('p99'), delivered: pick('delivered'), cpu: pick('cpu'), mainThread: pick('mainThread') })];
  };
  const medians = [['checkout', ...columns], medianOf('A'), medianOf('B')];
  const notes = [describeForeignCpu(Math.max(...runs.map((run) => run.steps[0].cores.foreign)), 'during the busiest load window'), disk];
  console.log(`\n${textTable(perRun)}\n\nMedians of ${rounds} rounds (A = ${comparison!.A}, B = ${comparison!.B}):\n${textTable(medians)}\n${notes.join('\n')}`);
  console.log('\nFor docs/benchmarks.md:\n');
  console.log(`${header.map((line) => `${line}  `).join('\n')}\n\n${markdownTable(medians)}\n\n${notes.map((line) => `- ${line}`).join('\n')}`);
}

function describeMax(variant: Variant): string {
  const passed = variant.steps.filter(keepsUp);
  const best = passed.at(-1);
  const failed = variant.steps.find((step) => !keepsUp(step));
  const next = failed
    ? `; at ${formatNumber(failed.rate)}/s ${failed.ingest.latency.p99 > P99_TARGET_MS ? `ingest p99 was ${formatNumber(failed.ingest.latency.p99, 2)} ms` : `deliveries fell behind (${formatNumber(failed.deliveredPerSecond)}/s)`}`
    : `; the last step tried (${MAX_STEPS} steps) still kept up`;
  return best
    ? `Highest sustained rate (ordering: ${variant.ordering}): ${formatNumber(best.rate)} events/s offered, ${formatNumber(best.deliveredPerSecond)} delivered/s, ingest p99 ${formatNumber(best.ingest.latency.p99, 2)} ms${next}`
    : `Highest sustained rate (ordering: ${variant.ordering}): below ${formatNumber(variant.steps[0].rate)} events/s${next}`;
}

