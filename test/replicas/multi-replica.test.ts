/**
 * Three `switchboard serve` replicas on one PostgreSQL database take LiveKit's webhooks round-robin, as behind a load
 * balancer, and forward every event to a partner that fails a fifth of its calls; one replica is SIGKILLed mid-run.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, createTestSchema, requirePostgres, SKIP_POSTGRES, type TestSchema } from '../helpers/postgres.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { ADMIN_TOKEN } from '../helpers/switchboard.ts';
import { startCountingReceiver, type CountingReceiver } from './counting-receiver.ts';
import { roomTraffic, type RoomEvent } from './room-traffic.ts';

const ROOMS = 250;
const PARTICIPANTS_PER_ROOM = 9; // 20 events a room: 5,000 in all
const SENT_TWICE_ONE_IN = 10;
const RECEIVER_FAILS_ONE_IN = 5;
const KILL_AFTER_ACKS = 2_000;
/** Webhooks in flight at once, over all rooms; within a room LiveKit sends one after another. */
const POSTS_AT_ONCE = 16;
const WORKER_CONCURRENCY = 8;
/**
 * Above WORKER_CONCURRENCY plus the webhooks a replica takes at once: lease renewals share the pool with them, and a
 * renewal that waits too long lets a live worker's lease expire (seen here with 12).
 */
const POOL_SIZE = 16;
/** Short, so the killed replica's deliveries run elsewhere soon. */
const LEASE_MS = 2_000;
const ALL_DELIVERED_WITHIN_MS = 90_000;

interface WebhookResults {
  event_id: string;
  duplicate: boolean;
}

/** Runs at most `limit` tasks at once, the others waiting in turn. */
function concurrencyLimit(limit: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < limit) active += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The slot passes to the next waiting task, or frees up.
      const next = waiting.shift();
      if (next) next();
      else active -= 1;
    }
  };
}

/** The answer of a replica that acknowledged the webhook with a 200; undefined when it failed or did not answer. */
async function post(replica: ServeProcess, body: string): Promise<WebhookResults | undefined> {
  try {
    const response = await replica.deliver(body, { signal: AbortSignal.timeout(15_000) });
    const answer = (await response.json()) as { results: WebhookResults };
    return response.status === 200 ? answer.results : undefined;
  } catch {
    return undefined;
  }
}

describe.skipIf(SKIP_POSTGRES)('three replicas on one PostgreSQL database', () => {
  let dir: string;
  let schema: TestSchema | undefined;
  let receiver: CountingReceiver | undefined;
  let replicas: ServeProcess[] = [];

  beforeAll(async () => {
    await requirePostgres();
    dir = mkdtempSync(join(tmpdir(), 'switchboard-replicas-'));
    schema = await createTestSchema();
    receiver = await startCountingReceiver(RECEIVER_FAILS_ONE_IN);
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    copyFileSync('rules/session-status.yaml', join(rulesDir, 'session-status.yaml'));
    writeFileSync(
      join(rulesDir, 'forward.yaml'),
      `rules:
  - id: forward
    on: "*"
    actions:
      - plugin: http
        mode: async
        retry: { attempts: 30, schedule: [0, 50ms, 100ms, 200ms] }
        with: { url: "${receiver.url}/livekit" }
`,
    );
    const databaseUrl = new URL(schema.url);
    databaseUrl.searchParams.set('pool_size', String(POOL_SIZE));
    const env = {
      RULES_DIR: rulesDir,
      DATABASE_URL: databaseUrl.href,
      ADMIN_TOKEN,
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      WORKER_POLL_INTERVAL: '50ms',
      DELIVERY_LEASE: `${LEASE_MS}ms`,
      // A fifth of calls failing opens a circuit now and then (five in a row); it should probe again soon.
      CIRCUIT_RESET: '250ms',
    };
    // Started together, so their migrations at start meet on the advisory lock.
    replicas = await Promise.all([0, 1, 2].map(() => startServeProcess(env)));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop('SIGKILL')));
    await receiver?.close();
    await schema?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers every action after a replica is killed: none lost, duplicates within its leases, rooms in order, sessions stopped', async () => {
    const startedAt = Date.now();
    const rooms = roomTraffic(ROOMS, PARTICIPANTS_PER_ROOM);
    const events = rooms.flat();
    const victim = replicas[1];
    const survivors = replicas.filter((replica) => replica !== victim);
    let victimKilled = false;

    let turn = 0;
    /** The next replica in turn, as a load balancer picks it: never one that is down, nor `other`. */
    function nextReplica(other?: ServeProcess): ServeProcess {
      const candidates = (victimKilled ? survivors : replicas).filter((replica) => replica !== other);
      return candidates[turn++ % candidates.length];
    }

    /**
     * Kills the victim and counts the deliveries it was running. The count is exact while none of their leases has
     * expired, since only an expired lease can be taken over: the same query says whether that still held.
     */
    async function killVictim(): Promise<{ leasesInFlight: number; countedBeforeExpiry: boolean }> {
      victimKilled = true;
      await victim.stop('SIGKILL');
      // The worker's lease owner is `<hostname>:<pid>:<random>`.
      const [{ count, unexpired }] = await adminQuery<{ count: number; unexpired: boolean }>(
        `SELECT count(*)::int AS count, coalesce(bool_and(lease_expires_at > clock_timestamp()), true) AS unexpired
           FROM ${schema!.name}.deliveries WHERE state = 'running' AND starts_with(lease_owner, $1)`,
        [`${hostname()}:${victim.pid}:`],
      );
      return { leasesInFlight: count, countedBeforeExpiry: unexpired };
    }

    const acknowledged = new Set<string>();
    /** Per event, the answers that said it was new (not a duplicate): one at most, whichever replicas got copies. */
    const answeredNew = new Map<string, number>();
    const resent = new Set<string>();
    let posts = 0;
    let kill: ReturnType<typeof killVictim> | undefined;
    const slot = concurrencyLimit(POSTS_AT_ONCE);

    /** Posts until a replica answers 200, moving to another replica after a failure, as LiveKit retries. */
    async function sendUntilAcknowledged(event: RoomEvent, first: ServeProcess): Promise<void> {
      let replica = first;
      for (let tries = 1; tries <= 10; tries++) {
        posts += 1;
        const results = await slot(() => post(replica, event.body));
        if (results) {
          if (!results.duplicate) answeredNew.set(event.id, (answeredNew.get(event.id) ?? 0) + 1);
          acknowledged.add(event.id);
          if (!kill && acknowledged.size >= KILL_AFTER_ACKS) kill = killVictim();
          return;
        }
        resent.add(event.id);
        replica = nextReplica(replica);
        await sleep(20);
      }
      throw new Error(`no replica acknowledged ${event.id}`);
    }

    let sentTwice = 0;
    await Promise.all(
      rooms.map(async (room, r) => {
        for (const event of room) {
          const replica = nextReplica();
          if ((r + event.index) % SENT_TWICE_ONE_IN === 0) {
            // A redelivery racing the original on another replica: the unique event id keeps one.
            sentTwice += 1;
            await Promise.all([sendUntilAcknowledged(event, replica), sendUntilAcknowledged(event, nextReplica(replica))]);
          } else {
            await sendUntilAcknowledged(event, replica);
          }
        }
      }),
    );
    expect(kill).toBeDefined();
    const { leasesInFlight, countedBeforeExpiry } = await kill!;
    const sentAt = Date.now();

    const deadline = Date.now() + ALL_DELIVERED_WITHIN_MS;
    let states: Record<string, number> = {};
    while (Date.now() < deadline) {
      const rows = await adminQuery<{ state: string; count: number }>(
        `SELECT state, count(*)::int AS count FROM ${schema!.name}.deliveries GROUP BY state`,
      );
      states = Object.fromEntries(rows.map((row) => [row.state, row.count]));
      if (states.succeeded === events.length && receiver!.delivered().size === events.length) break;
      await sleep(250);
    }
    const deliveredAt = Date.now();

    const { arrivals } = receiver!;
    const failedCalls = arrivals.filter((arrival) => arrival.status !== 200).length;
    const delivered = receiver!.delivered();
    const duplicates = receiver!.duplicates();
    const firstDeliveries = receiver!.firstDeliveriesByRoom();
    const roomsOutOfOrder = rooms
      .filter((room) => firstDeliveries.get(room[0].room)?.join() !== room.map((event) => event.id).join())
      .map((room) => room[0].room);
    // A live worker whose renewals came too late: its delivery ran twice, with no kill to blame.
    const leasesLostByLiveWorkers = replicas
      .flatMap((replica) => replica.stdout.split('\n'))
      .filter((line) => line.includes('"msg":"lost the lease')).length;

    let nextSurvivor = 0;
    const sessions = await Promise.all(
      rooms.map(async (room) => {
        const replica = survivors[nextSurvivor++ % survivors.length];
        const response = await slot(() =>
          fetch(`${replica.url}/api/v1/sessions/${room[0].room}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } }),
        );
        const { results } = (await response.json()) as { results: { status: string; history: Array<{ status: string }> } };
        return { status: results.status, history: results.history.map((entry) => entry.status) };
      }),
    );
    const sessionsStopped = sessions.filter((session) => session.status === 'stopped').length;
    const [{ count: recordedEvents }] = await adminQuery<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${schema!.name}.events`,
    );

    console.log(
      `multi-replica run: ${events.length} events (${sentTwice} sent twice to two replicas) in ${posts} posts to 3 replicas; ` +
        `one SIGKILLed after ${KILL_AFTER_ACKS} acks, ${resent.size} events re-sent after no answer; ` +
        `leases in flight at the kill: ${leasesInFlight} (counted before any expired: ${countedBeforeExpiry}); ` +
        `receiver: ${arrivals.length} requests, ${failedCalls} answered 500, ` +
        `${delivered.size} events delivered, ${duplicates} duplicates (bound ${leasesInFlight}), ` +
        `${leasesLostByLiveWorkers} leases lost by live workers; ` +
        `${rooms.length - roomsOutOfOrder.length}/${rooms.length} rooms in order, ${sessionsStopped}/${rooms.length} sessions stopped; ` +
        `sent in ${((sentAt - startedAt) / 1000).toFixed(1)} s, all delivered ${((deliveredAt - sentAt) / 1000).toFixed(1)} s later`,
    );

    // Recorded once each, whichever replicas the copies reached.
    expect(acknowledged.size).toBe(events.length);
    expect(recordedEvents).toBe(events.length);
    expect([...answeredNew].filter(([, times]) => times > 1)).toEqual([]);
    // Leases are renewed every third of LEASE_MS, so the victim's were all still held when counted: the count is
    // every attempt it had under way.
    expect(countedBeforeExpiry).toBe(true);
    // None lost: every action delivered, and each delivery finished as succeeded.
    expect(events.filter((event) => !delivered.has(event.id)).map((event) => event.id)).toEqual([]);
    expect(states).toEqual({ succeeded: events.length });
    expect(leasesLostByLiveWorkers, 'a live worker lost a lease: its renewals waited too long (pool or CPU)').toBe(0);
    expect(duplicates).toBeLessThanOrEqual(leasesInFlight);
    expect(roomsOutOfOrder).toEqual([]);
    expect(sessions.filter((session) => session.status !== 'stopped' || session.history.join() !== 'stopped,live')).toEqual([]);
  }, 180_000);
});
