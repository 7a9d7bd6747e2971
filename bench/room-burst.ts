/**
 * `bench:deliver --scenario one-room`: a burst of `participant_joined` events, as a webinar's attendees join, all
 * in one room or each in a room of its own, forwarded (ordering per room) to the counting receiver. Within a room
 * the deliveries run one after another, so the one-room burst measures how soon a room's next delivery starts once
 * the one before it finished; the spread burst, the same events when nothing orders them. A fresh store each time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sampleEvent } from '../src/livekit/samples.ts';
import { signWebhook } from '../src/livekit/sign.ts';
import { writeForwardingRule, type DeliverySetup } from './delivery-run.ts';
import { startSwitchboard } from './server-process.ts';
import { freshDatabase } from './setup.ts';

/** Webhooks in flight at once while the burst is posted, as LiveKit's several connections would carry them. */
const POSTS_AT_ONCE = 8;
const DRAIN_POLL_MS = 20;

/** `elapsedMs`: from the first post to the last arrival (NaN when not all arrived); `inOrder`: each room's in order. */
export type BurstResult = { elapsedMs: number; deliveredPerSecond: number; inOrder: boolean; problems: string[] };

/** Posts `events` participant joins spread over `rooms` rooms, as fast as answered, and waits for every delivery. */
export async function measureRoomBurst(setup: DeliverySetup, checkout: string, rooms: number, events: number): Promise<BurstResult> {
  const { receiver, credentials } = setup;
  const database = await freshDatabase(setup.db, setup.workDir);
  const rulesDir = writeForwardingRule(setup.workDir, receiver.url, 'room');
  const server = await startSwitchboard(checkout, { credentials, rulesDir, databaseUrl: database.url });
  try {
    const bodies = Array.from({ length: events }, (_, i) => JSON.stringify(sampleEvent('participant_joined', { room: `webinar-${i % rooms}`, participant: `attendee-${i}` })));
    const posts = await Promise.all(bodies.map(async (body) => ({ body, authorization: await signWebhook({ body, ...credentials }) })));
    const roomOf = new Map(bodies.map((body, i) => [(JSON.parse(body) as { id: string }).id, { room: i % rooms, index: i }]));
    await receiver.takeArrivals();
    const problems: string[] = [];
    const startedAt = performance.timeOrigin + performance.now();
    // Each room's events are posted in order: a worker takes the next post only once the one before it answered.
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(POSTS_AT_ONCE, rooms) }, async () => {
        while (next < posts.length) {
          const { body, authorization } = posts[next++];
          const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/webhook+json', authorization }, body });
          if (response.status !== 200) problems.push(`a webhook was answered ${response.status}: ${await response.text()}`);
          else await response.arrayBuffer();
        }
      }),
    );
    const deadline = performance.now() + setup.drainLimitMs;
    const ids: string[] = [];
    const at: number[] = [];
    while (ids.length < events && performance.now() < deadline) {
      const arrivals = await receiver.takeArrivals();
      ids.push(...arrivals.ids);
      at.push(...arrivals.at);
      if (ids.length < events) await sleep(DRAIN_POLL_MS);
    }
    const elapsedMs = ids.length >= events ? Math.max(...at) - startedAt : NaN;
    if (ids.length < events) problems.push(`${events - ids.length} of ${events} events had not arrived after ${setup.drainLimitMs / 1000} s`);
    const lastOfRoom = new Map<number, number>();
    let inOrder = true;
    for (const known of ids.map((id) => roomOf.get(id))) {
      if (!known) continue;
      if ((lastOfRoom.get(known.room) ?? -1) > known.index) inOrder = false;
      lastOfRoom.set(known.room, known.index);
    }
    if (!inOrder) problems.push("a room's events arrived out of order");
    return { elapsedMs, deliveredPerSecond: (events / elapsedMs) * 1000, inOrder, problems };
  } finally {
    await server.stop();
    await database.drop();
  }
}
