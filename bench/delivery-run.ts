/**
 * One delivery run, shared by `bench:deliver` and `bench:compare`: a checkout's Switchboard (one or more replicas
 * on a fresh store) with one rule that forwards every event with the `http` plugin (async) to a counting receiver
 * in a process of its own. Unique signed events arrive open-loop at a fixed rate, round-robin over the replicas,
 * after a warm-up on the same connections; then the queue drains and the store must show every delivery succeeded.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startForeignCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { percentiles, runAtFixedRate, type LoadResult } from './load.ts';
import type { CountingReceiver } from './receiver.ts';
import { formatNumber } from './report.ts';
import { countRoundTrips, roundTripReport, type RoundTripReport } from './round-trips.ts';
import { startServerProcess, switchboardEnvironment, type ServerProcess } from './server-process.ts';
import { createEventSource, signedDeliveries, type EventSource, type SignedDelivery } from './webhook-events.ts';

export type Database = 'sqlite' | 'postgres';
export type Ordering = 'none' | 'room';

/** Concurrent rooms: each event belongs to one, so ordering keys repeat about every ROOMS / rate seconds. */
const ROOMS = 500;
const DRAIN_POLL_MS = 50;
const SETTLE_TIMEOUT_MS = 10_000;

export interface DeliverySetup {
  db: Database;
  replicas: number;
  pgUrl: string;
  /** WORKER_CONCURRENCY and the pool's size per replica; the server's defaults when undefined. */
  concurrency?: number;
  poolSize?: number;
  workDir: string;
  credentials: { apiKey: string; apiSecret: string };
  receiver: CountingReceiver;
  warmupSeconds: number;
  /** How long the queue may take to drain after the load. */
  drainLimitMs: number;
}

export interface DeliveryResult {
  rate: number;
  /** The replicas' loads together; latency percentiles are the highest replica's (an upper bound of the combined). */
  ingest: LoadResult;
  queued: number;
  delivered: number;
  /** Distinct events the receiver got during the load window, per second of it. */
  deliveredPerSecond: number;
  /** From the end of the load window to the last delivery; NaN when the queue did not drain in time. */
  drainMs: number;
  /** The most events acknowledged to LiveKit but not yet at the receiver, at any moment. */
  maxBacklog: number;
  /** From each event's due time to its arrival at the receiver, ms. */
  endToEnd: { p50: number; p99: number };
  redelivered: number;
  /** `switchboardMainThread`: the busiest replica's event loop alone; `foreign`: every other process (PostgreSQL too). */
  cores: { switchboard: number; switchboardMainThread: number; receiver: number; generator: number; foreign: number };
  /** PostgreSQL's round trips from the run's first webhook to its drain; null on SQLite. */
  roundTrips: RoundTripReport | null;
  problems: string[];
}

/** The Switchboard of `checkout` on a fresh store: a warm-up, then one run at `rate` for `seconds`, then the drain. */
export async function measureDelivery(setup: DeliverySetup, checkout: string, ordering: Ordering, rate: number, seconds: number): Promise<DeliveryResult> {
  const database = await freshDatabase(setup);
  const rulesDir = writeForwardingRule(setup, ordering);
  const servers = await Promise.all(
    Array.from({ length: setup.replicas }, () =>
      startServerProcess(join(checkout, 'bench/servers/switchboard.ts'), {
        env: {
          ...switchboardEnvironment({ credentials: setup.credentials, rulesDir, pluginsDir: join(checkout, 'plugins'), databaseUrl: database.url }),
          ...(setup.concurrency !== undefined && { WORKER_CONCURRENCY: String(setup.concurrency) }),
        },
      }),
    ),
  );
  const source = roomScopedEvents();
  // The warm-up's connections carry the measured run too, as LiveKit's keep-alive connections would.
  const clients = servers.map((server) => new KeepAliveClient(new URL(server.url)));
  try {
    const warmup = await deliverAtRate(setup, servers, clients, source, rate, setup.warmupSeconds);
    const run = await deliverAtRate(setup, servers, clients, source, rate, seconds);
    // A stall during the load can leave it holding the server's MAX_CONNECTIONS, idle: closed, /metrics gets one.
    for (const client of clients) client.destroy();
    const states = await settledDeliveryStates(servers[0]);
    run.problems.push(...checkStates(states, warmup.queued + run.queued));
    return run;
  } finally {
    for (const client of clients) client.destroy();
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  }
}

/**
 * The benchmark's events, by `ROOMS` rooms in turn; an egress or ingress belongs to its room, as in LiveKit, so
 * that every ordering key (room name, ingress id) repeats at the same pace. An egress starts and ends once: each
 * pass over the rooms has egresses of its own, or every later one would be a duplicate of the first.
 */
export function roomScopedEvents(): EventSource {
  let room = '';
  let pass = 0;
  // The source asks for each event's room while it builds that event.
  const source = createEventSource({
    room: (n) => {
      pass = Math.floor(n / ROOMS);
      return (room = `session-${n % ROOMS}`);
    },
  });
  return {
    next() {
      const event = source.next();
      if (event.egressInfo) event.egressInfo.egressId = `EG_${room}_${pass}`;
      if (event.ingressInfo) event.ingressInfo.ingressId = `IN_${room}`;
      return event;
    },
  };
}

/** Signed before a run, never during it; a collection afterwards keeps the signing's garbage out of the run. */
export async function signBeforeRun(source: EventSource, count: number, credentials: DeliverySetup['credentials']): Promise<SignedDelivery[]> {
  const deliveries = await signedDeliveries(source, count, credentials);
  // The bench scripts run with --expose-gc; without it, a collection may land inside a run.
  (globalThis as { gc?: () => void }).gc?.();
  return deliveries;
}

async function deliverAtRate(
  setup: DeliverySetup,
  servers: ServerProcess[],
  clients: KeepAliveClient[],
  source: EventSource,
  rate: number,
  seconds: number,
): Promise<DeliveryResult> {
  const { receiver } = setup;
  const perReplica = Math.round((rate * seconds) / servers.length);
  const deliveries = await signBeforeRun(source, perReplica * servers.length, setup.credentials);
  const indexOf = new Map(deliveries.map((delivery, index) => [(JSON.parse(delivery.body) as { id: string }).id, index]));
  const answers = checkAnswers(indexOf);
  await receiver.takeArrivals();
  const before = await receiver.counts();
  const tripsBefore = setup.db === 'postgres' ? await countRoundTrips(servers) : null;

  const foreignCpu = startForeignCpuMeter([process.pid, receiver.pid, ...servers.map((server) => server.pid)]);
  const receiverCpu = startProcessCpuMeter([receiver.pid]);
  const interval = 1000 / rate;
  // Replica i takes events i, i + n, i + 2n…: started one interval apart, they send in turn.
  const loads = await Promise.all(
    servers.map(async (server, replica) => {
      await sleep(replica * interval);
      return runAtFixedRate({
        url: server.url,
        serverPid: server.pid,
        rate: rate / servers.length,
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
  const cores = {
    switchboard: ingest.cores.server,
    switchboardMainThread: ingest.cores.serverMainThread,
    receiver: receiverCpu.read(),
    generator: ingest.cores.generator,
    foreign: foreignCpu.read(),
  };

  const windowEnd = start + seconds * 1000;
  const drainDeadline = performance.now() + setup.drainLimitMs;
  while ((await receiver.counts()).unique - before.unique < answers.queued && performance.now() < drainDeadline) await sleep(DRAIN_POLL_MS);
  const after = await receiver.counts();
  const arrivals = await receiver.takeArrivals();
  const tripsAfter = tripsBefore === null ? null : await countRoundTrips(servers);

  const arrivedAt: number[] = [];
  const endToEnd: number[] = [];
  arrivals.ids.forEach((id, i) => {
    const index = indexOf.get(id);
    if (index === undefined) return;
    const due = replicaStarts[index % servers.length] + Math.floor(index / servers.length) * servers.length * interval;
    arrivedAt.push(arrivals.at[i]);
    endToEnd.push(arrivals.at[i] - due);
  });
  const complete = arrivedAt.length >= answers.queued;
  const problems = answers.problems();
  if (!complete) problems.push(`${formatNumber(answers.queued - arrivedAt.length)} of ${formatNumber(answers.queued)} queued events had not arrived ${setup.drainLimitMs / 1000} s after the load`);
  if (after.unreadable > before.unreadable) problems.push(`${after.unreadable - before.unreadable} deliveries reached the receiver without an event id`);
  if (ingest.non2xx > 0) problems.push(`${ingest.non2xx} non-2xx webhook answers`);
  if (ingest.errors > 0) problems.push(`${ingest.errors} webhook connection errors or timeouts`);

  return {
    rate,
    ingest,
    queued: answers.queued,
    delivered: arrivedAt.length,
    deliveredPerSecond: arrivedAt.filter((at) => at >= start && at < windowEnd).length / seconds,
    drainMs: complete ? Math.max(0, Math.max(...arrivedAt) - windowEnd) : NaN,
    maxBacklog: maxBacklog(answers.ackedAt, arrivedAt),
    endToEnd: percentiles(endToEnd),
    redelivered: after.requests - before.requests - (after.unique - before.unique),
    cores,
    roundTrips: tripsBefore === null || tripsAfter === null ? null : roundTripReport(tripsBefore, tripsAfter),
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
    cores: { server: sum((load) => load.cores.server), serverMainThread: highest((load) => load.cores.serverMainThread), generator: loads[0].cores.generator },
    generatorMaxStallMs: highest((load) => load.generatorMaxStallMs ?? 0),
    sendLatenessP99Ms: highest((load) => load.sendLatenessP99Ms ?? 0),
  };
}

/** Each answer must show the path measured: a new event whose one action, the forwarding, was queued. */
function checkAnswers(indexOf: ReadonlyMap<string, number>) {
  const ackedAt: number[] = [];
  let unexpected = 0;
  let firstUnexpected: string | undefined;
  return {
    inspect(status: number, body: string) {
      const results = status >= 200 && status < 300 ? (JSON.parse(body) as { results: AnswerResults }).results : undefined;
      if (results && !results.duplicate && indexOf.has(results.event_id) && results.actions.length === 1 && results.actions[0].status === 'queued') {
        ackedAt.push(performance.timeOrigin + performance.now());
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

export function writeForwardingRule({ workDir, receiver }: DeliverySetup, ordering: Ordering): string {
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

/** An empty store for one run: a SQLite file, or a PostgreSQL schema that the servers' migrations create. */
export async function freshDatabase(setup: Pick<DeliverySetup, 'db' | 'pgUrl' | 'workDir' | 'poolSize'>): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  if (setup.db === 'sqlite') return { url: `file:${join(setup.workDir, `${name}.db`)}`, drop: async () => {} };
  const url = new URL(setup.pgUrl);
  url.searchParams.set('schema', name);
  if (setup.poolSize !== undefined) url.searchParams.set('pool_size', String(setup.poolSize));
  return { url: url.href, drop: () => postgresQuery(setup.pgUrl, `DROP SCHEMA IF EXISTS ${name} CASCADE`) };
}

export async function postgresQuery(pgUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
