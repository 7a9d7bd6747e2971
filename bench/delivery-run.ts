/**
 * One delivery run (`bench:deliver`, `bench:compare`): a checkout's Switchboard (replicas on one fresh store) whose
 * one rule forwards every event (http, async) to the counting receiver. Distinct signed events arrive open loop,
 * round-robin over the replicas, after a warm-up on the same connections; then the queue drains, and every delivery
 * must have succeeded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startForeignCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { percentiles, runAtFixedRate, type LoadResult } from './load.ts';
import type { CountingReceiver } from './receiver.ts';
import { formatNumber } from './report.ts';
import { countRoundTrips, roundTripReport } from './round-trips.ts';
import { startSwitchboard, type Credentials, type ServerProcess } from './server-process.ts';
import { freshDatabase, type Database } from './setup.ts';
import { roomScopedEvents, signBeforeRun, type EventSource } from './webhook-events.ts';

export type Ordering = 'none' | 'room';

const DRAIN_POLL_MS = 50;
const SETTLE_TIMEOUT_MS = 10_000;

/** `drainLimitMs`: how long the queue may take to drain after the load. */
export type DeliverySetup = { db: Database; replicas: number; workDir: string; credentials: Credentials; receiver: CountingReceiver; warmupSeconds: number; drainLimitMs: number };

export type DeliveryResult = Awaited<ReturnType<typeof deliverAtRate>>;

/** The Switchboard of `checkout` on a fresh store: a warm-up, then one run at `rate` for `seconds`, then the drain. */
export async function measureDelivery(setup: DeliverySetup, checkout: string, ordering: Ordering, rate: number, seconds: number) {
  const database = await freshDatabase(setup.db, setup.workDir);
  const rulesDir = writeForwardingRule(setup.workDir, setup.receiver.url, ordering);
  const start = () => startSwitchboard(checkout, { credentials: setup.credentials, rulesDir, databaseUrl: database.url });
  const servers = await Promise.all(Array.from({ length: setup.replicas }, start));
  const source = roomScopedEvents();
  // The warm-up's connections carry the measured run too, as LiveKit's keep-alive connections would.
  const clients = servers.map((server) => new KeepAliveClient(new URL(server.url)));
  try {
    const warmup = await deliverAtRate(setup, servers, clients, source, rate, setup.warmupSeconds);
    const run = await deliverAtRate(setup, servers, clients, source, rate, seconds);
    // A stall during the load can leave it holding the server's MAX_CONNECTIONS, idle: closed, /metrics gets one.
    for (const client of clients) client.destroy();
    run.problems.push(...(await checkSettledStates(servers[0], warmup.queued + run.queued)));
    return run;
  } finally {
    for (const client of clients) client.destroy();
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  }
}

async function deliverAtRate(setup: DeliverySetup, servers: ServerProcess[], clients: KeepAliveClient[], source: EventSource, rate: number, seconds: number) {
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
      const mine = deliveries.filter((_, index) => index % servers.length === replica);
      const target = { url: server.url, serverPid: server.pid, client: clients[replica], inspect: answers.inspect };
      return runAtFixedRate({ ...target, rate: rate / servers.length, duration: seconds, deliveries: mine });
    }),
  );
  // The replicas' loads together; latency percentiles are the highest replica's (an upper bound of the combined).
  const ingest = combine(loads);
  const replicaStarts = loads.map((load) => load.startedAt!);
  const start = Math.min(...replicaStarts);
  // `switchboardMainThread`: the busiest replica's event loop alone; `foreign`: every other process (PostgreSQL too).
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
  const missing = `${formatNumber(answers.queued - arrivedAt.length)} of ${formatNumber(answers.queued)} queued events`;
  if (!complete) problems.push(`${missing} had not arrived ${setup.drainLimitMs / 1000} s after the load`);
  if (after.unreadable > before.unreadable) problems.push(`${after.unreadable - before.unreadable} deliveries reached the receiver without an event id`);
  if (ingest.non2xx > 0) problems.push(`${ingest.non2xx} non-2xx webhook answers`);
  if (ingest.errors > 0) problems.push(`${ingest.errors} webhook connection errors or timeouts`);
  return {
    rate,
    ingest,
    queued: answers.queued,
    delivered: arrivedAt.length,
    /** Distinct events the receiver got during the load window, per second of it. */
    deliveredPerSecond: arrivedAt.filter((at) => at >= start && at < windowEnd).length / seconds,
    /** From the end of the load window to the last delivery; NaN when the queue did not drain in time. */
    drainMs: complete ? Math.max(0, Math.max(...arrivedAt) - windowEnd) : NaN,
    /** The most events acknowledged to LiveKit but not yet at the receiver, at any moment. */
    maxBacklog: maxBacklog(answers.ackedAt, arrivedAt),
    /** From each event's due time to its arrival at the receiver, ms. */
    endToEnd: percentiles(endToEnd),
    redelivered: after.requests - before.requests - (after.unique - before.unique),
    cores,
    /** PostgreSQL's round trips from the run's first webhook to its drain; null on SQLite. */
    roundTrips: tripsBefore === null || tripsAfter === null ? null : roundTripReport(tripsBefore, tripsAfter),
    problems,
  };
}

/** The replicas' runs as one: counts summed, latency percentiles the highest replica's. */
function combine(loads: LoadResult[]): LoadResult {
  const sum = (pick: (load: LoadResult) => number) => loads.reduce((total, load) => total + pick(load), 0);
  const highest = (pick: (load: LoadResult) => number) => Math.max(...loads.map(pick));
  const seconds = highest((load) => load.seconds);
  const ok = sum((load) => load.ok);
  return {
    sent: sum((load) => load.sent), ok, non2xx: sum((load) => load.non2xx), errors: sum((load) => load.errors), seconds, eventsPerSecond: ok / seconds,
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
      type Results = { event_id: string; duplicate: boolean; actions: Array<{ status: string }> };
      const results = status >= 200 && status < 300 ? (JSON.parse(body) as { results: Results }).results : undefined;
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

/** Once nothing is pending or running (or the wait is over), /metrics must show every delivery `queued` succeeded. */
async function checkSettledStates(server: ServerProcess, queued: number): Promise<string[]> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  let states: Record<string, number>;
  for (;;) {
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    states = Object.fromEntries([...text.matchAll(/^switchboard_deliveries\{state="([^"]+)"\} (\d+)$/gm)].map(([, state, count]) => [state, Number(count)]));
    if ((states.pending ?? 0) + (states.running ?? 0) + (states['failed-waiting-retry'] ?? 0) === 0 || performance.now() > deadline) break;
    await sleep(100);
  }
  const problems = Object.entries(states).filter(([state, count]) => state !== 'succeeded' && count > 0).map(([state, count]) => `${formatNumber(count)} deliveries left ${state}`);
  if (states.succeeded !== queued) problems.push(`${formatNumber(states.succeeded ?? 0)} deliveries succeeded, ${formatNumber(queued)} were queued`);
  return problems;
}

/** A rules directory whose one rule forwards every event to `url` (async, ordering per room or none). */
export function writeForwardingRule(workDir: string, url: string, ordering: Ordering): string {
  const dir = join(workDir, `rules-${ordering}`);
  mkdirSync(dir, { recursive: true });
  const rule = ['rules:', '  - id: forward-every-event', '    on: "*"', '    actions:', '      - plugin: http', '        mode: async'];
  if (ordering === 'none') rule.push('        ordering: none');
  writeFileSync(join(dir, 'forward.yaml'), `${[...rule, `        with: { url: "${url}" }`].join('\n')}\n`);
  return dir;
}
