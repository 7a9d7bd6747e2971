/** Delivery runs and bursts (`bench:deliver`, `bench:compare`): every event forwarded to the receiver. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleEvent } from '../src/livekit/samples.ts';
import type { RoundTripKind, RoundTripTally } from '../src/store/postgres/round-trips.ts';
import { startForeignCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { checkAnswers, loadProblems, percentiles, runAtFixedRate, runAtMaxThroughput } from './load.ts';
import { formatNumber } from './report.ts';
import { freshDatabase, startSwitchboard, type CountingReceiver, type Credentials, type Database, type ServerProcess } from './setup.ts';
import { roomScopedEvents, signBeforeRun, type EventSource } from './webhook-events.ts';

export type Ordering = 'none' | 'room';
export type RoundTripCounts = Record<RoundTripKind, RoundTripTally>;
export type DeliverySetup = { db: Database; replicas: number; workDir: string; credentials: Credentials; receiver: CountingReceiver; warmupSeconds: number };
export type DeliveryResult = Awaited<ReturnType<typeof deliverAtRate>>;
/** `elapsedMs`: from the first post to the last arrival (NaN when not all arrived); `inOrder`: each room's in order. */
export type BurstResult = { elapsedMs: number; deliveredPerSecond: number; inOrder: boolean; problems: string[] };

const SETTLE_TIMEOUT_MS = 10_000;
/** How long the queue may take to drain after a burst, or after a run of up to 20 s (three times a longer one). */
const DRAIN_LIMIT_MS = 60_000;
/** Webhooks in flight at once while a burst is posted, as LiveKit's several connections would carry them. */
const POSTS_AT_ONCE = 8;

/**
 * Distinct signed events open loop at `rate` for `seconds`, round-robin over the replicas, after a warm-up on the
 * same connections (as LiveKit's keep-alive connections would carry them); then the queue drains, and every
 * delivery must have succeeded.
 */
export async function measureDelivery(setup: DeliverySetup, checkout: string, ordering: Ordering, rate: number, seconds: number) {
  const { servers, stop } = await startForwarding(setup, checkout, ordering, setup.replicas);
  const source = roomScopedEvents();
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
    await stop();
  }
}

async function deliverAtRate(setup: DeliverySetup, servers: ServerProcess[], clients: KeepAliveClient[], source: EventSource, rate: number, seconds: number) {
  const { receiver } = setup;
  const deliveries = await signBeforeRun(source, Math.round(rate * seconds), setup.credentials);
  const answers = checkAnswers('queued');
  await receiver.arrivals();
  const before = await receiver.counts();
  const tripsBefore = setup.db === 'postgres' ? await countRoundTrips(servers) : null;
  const foreignCpu = startForeignCpuMeter([process.pid, receiver.pid, ...servers.map((server) => server.pid)]);
  const receiverCpu = startProcessCpuMeter([receiver.pid]);
  const ingest = await runAtFixedRate({ servers, clients, rate, deliveries, inspect: answers.inspect });
  // Switchboard's (`server`), the load generator's, the receiver's and every other process's (PostgreSQL too).
  const cores = { ...ingest.cores, receiver: receiverCpu.read(), foreign: foreignCpu.read() };
  const queued = answers.ackedAt.length;
  const drainLimitMs = Math.max(DRAIN_LIMIT_MS, 3 * seconds * 1000);
  const arrivals = await receiver.arrivals(queued, drainLimitMs);
  const after = await receiver.counts();
  const tripsAfter = tripsBefore && (await countRoundTrips(servers));

  const start = ingest.startedAt!;
  const windowEnd = start + seconds * 1000;
  const dueAt = new Map(deliveries.map((delivery, k) => [delivery.id, start + (k * 1000) / rate]));
  const arrivedAt: number[] = [];
  const endToEnd: number[] = [];
  arrivals.ids.forEach((id, i) => {
    if (!dueAt.has(id)) return;
    arrivedAt.push(arrivals.at[i]);
    endToEnd.push(arrivals.at[i] - dueAt.get(id)!);
  });
  const complete = arrivedAt.length >= queued;
  const problems = [...answers.problems(), ...loadProblems(ingest, 'webhooks')];
  if (!complete) problems.push(`${formatNumber(queued - arrivedAt.length)} of ${formatNumber(queued)} queued events had not arrived ${drainLimitMs / 1000} s after the load`);
  if (after.unreadable > before.unreadable) problems.push(`${after.unreadable - before.unreadable} deliveries reached the receiver without an event id`);
  return {
    rate,
    ingest,
    queued,
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
    roundTrips: tripsBefore && tripsAfter && addCounts(tripsAfter, tripsBefore, -1),
    problems,
  };
}

/**
 * A burst of `events` participant joins, as a webinar's attendees join, spread over `rooms` rooms, posted as fast as
 * answered and forwarded with ordering per room, on a fresh store. Within a room the deliveries run one after
 * another, so one room's burst measures how soon a room's next delivery starts once the one before it finished.
 */
export async function measureRoomBurst(setup: DeliverySetup, checkout: string, rooms: number, events: number): Promise<BurstResult> {
  const { servers, stop } = await startForwarding(setup, checkout, 'room', 1);
  try {
    let n = 0;
    const webinar = { next: () => sampleEvent('participant_joined', { room: `webinar-${n % rooms}`, participant: `attendee-${n++}` })! };
    const posts = await signBeforeRun(webinar, events, setup.credentials);
    await setup.receiver.arrivals();
    const startedAt = performance.timeOrigin + performance.now();
    // One room's burst has one request in flight: its events are answered, and so queued, in order.
    const posting = await runAtMaxThroughput({ server: servers[0], connections: Math.min(POSTS_AT_ONCE, rooms), deliveries: posts });
    const problems = loadProblems(posting, 'burst');
    const { ids, at } = await setup.receiver.arrivals(events, DRAIN_LIMIT_MS);
    if (ids.length < events) problems.push(`${events - ids.length} of ${events} events had not arrived after ${DRAIN_LIMIT_MS / 1000} s`);
    // Event i is of room i mod rooms: within a room, the ids must arrive in increasing i.
    const indexOf = new Map(posts.map((post, i) => [post.id, i]));
    const lastOfRoom = new Map<number, number>();
    const inOrder = ids.every((id) => {
      const i = indexOf.get(id);
      if (i === undefined) return true;
      const later = i > (lastOfRoom.get(i % rooms) ?? -1);
      lastOfRoom.set(i % rooms, i);
      return later;
    });
    if (!inOrder) problems.push("a room's events arrived out of order");
    const elapsedMs = ids.length >= events ? Math.max(...at) - startedAt : NaN;
    return { elapsedMs, deliveredPerSecond: (events / elapsedMs) * 1000, inOrder, problems };
  } finally {
    await stop();
  }
}

/** `replicas` Switchboards of `checkout` on a fresh store whose one rule forwards every event to the receiver. */
async function startForwarding(setup: DeliverySetup, checkout: string, ordering: Ordering, replicas: number) {
  const database = await freshDatabase(setup.db, setup.workDir);
  const rulesDir = writeForwardingRule(setup.workDir, setup.receiver.url, ordering);
  const start = () => startSwitchboard(checkout, { credentials: setup.credentials, rulesDir, databaseUrl: database.url });
  const servers = await Promise.all(Array.from({ length: replicas }, start));
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  };
  return { servers, stop };
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
export async function checkSettledStates(server: Pick<ServerProcess, 'url'>, queued: number): Promise<string[]> {
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

/** PostgreSQL's round trips so far, by kind, added up over the replicas (servers/switchboard.ts); null on SQLite. */
async function countRoundTrips(servers: readonly ServerProcess[]): Promise<RoundTripCounts | null> {
  const answers = await Promise.all(servers.map((server) => server.ask<RoundTripCounts | null>('round trips')));
  return answers.includes(null) ? null : (answers as RoundTripCounts[]).reduce((sum, counts) => addCounts(sum, counts));
}

/** `a` plus `sign` times `b`, kind by kind. */
function addCounts(a: RoundTripCounts, b: RoundTripCounts, sign = 1): RoundTripCounts {
  const add = (kind: RoundTripKind) => ({ operations: a[kind].operations + sign * b[kind].operations, roundTrips: a[kind].roundTrips + sign * b[kind].roundTrips });
  return Object.fromEntries((Object.keys(a) as RoundTripKind[]).map((kind) => [kind, add(kind)])) as RoundTripCounts;
}
