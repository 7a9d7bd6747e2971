/**
 * Unique, realistic webhook events for the benchmarks: the shipped samples of every event name in turn, each with
 * its own `EV_…` id and room, and the fields the generated rules look at varied so only some rules hold.
 */
import type { LiveKitEvent } from '../src/livekit/event-types.ts';
import { sampleEvent, sampleEventNames } from '../src/livekit/samples.ts';
import { signWebhook } from '../src/livekit/sign.ts';

const ROOM = '@@bench-room@@';
const PARTICIPANT = '@@bench-participant@@';

export interface EventSourceOptions {
  /** The room of the n-th event; by default `session-<n>`, so every event names a room of its own. */
  room?: (n: number) => string;
}

export interface EventSource {
  /** The next event; numbering continues across calls, so no two events of one source share an id. */
  next(): LiveKitEvent;
}

export function createEventSource(options: EventSourceOptions = {}): EventSource {
  const roomOf = options.room ?? ((n: number) => `session-${n}`);
  // The samples know where each event names its room and participant; placeholders keep that knowledge there.
  const templates = sampleEventNames().map((name) => JSON.stringify(sampleEvent(name, { room: ROOM, participant: PARTICIPANT })));
  const run = Date.now().toString(36);
  let n = 0;
  return {
    next() {
      const i = n++;
      const text = templates[i % templates.length].replaceAll(ROOM, roomOf(i)).replaceAll(PARTICIPANT, `user-${i % 50}`);
      const event = JSON.parse(text) as LiveKitEvent;
      event.id = `EV_${run}${i.toString(36).padStart(7, '0')}`;
      event.createdAt = String(Math.floor(Date.now() / 1000));
      if (event.room?.metadata !== undefined) {
        event.room.metadata = JSON.stringify({ customer: `cus_${i % 997}`, plan: i % 2 === 0 ? 'pro' : 'free' });
      }
      if (event.participant?.metadata !== undefined) {
        event.participant.metadata = JSON.stringify({ role: i % 3 === 0 ? 'host' : 'guest' });
      }
      if (event.track !== undefined) event.track.source = i % 2 === 0 ? 'CAMERA' : 'SCREEN_SHARE';
      return event;
    },
  };
}

export interface SignedDelivery {
  body: string;
  /** The `Authorization` header: the token LiveKit would send with this body. */
  authorization: string;
}

/** The next `count` events of `source`, serialised and signed exactly as LiveKit signs its deliveries. */
export async function signedDeliveries(
  source: EventSource,
  count: number,
  credentials: { apiKey: string; apiSecret: string },
): Promise<SignedDelivery[]> {
  const deliveries: SignedDelivery[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify(source.next());
    deliveries[i] = { body, authorization: await signWebhook({ body, ...credentials }) };
  }
  return deliveries;
}
