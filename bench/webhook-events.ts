/**
 * Unique, realistic webhook events for the benchmarks: the shipped samples of every event name in turn (a round),
 * each with its own `EV_…` id and room, and the fields the generated rules look at varied from round to round so
 * only some rules hold, for every event name alike.
 */
import type { LiveKitEvent } from '../src/livekit/event-types.ts';
import { sampleEvent, sampleEventNames } from '../src/livekit/samples.ts';
import { signWebhook } from '../src/livekit/sign.ts';

const ROOM = '@@bench-room@@';
const PARTICIPANT = '@@bench-participant@@';

export interface EventSourceOptions {
  /**
   * The room of the n-th event, which is `eventName` in round `round`; by default `session-<n>`, so every event
   * names a room of its own.
   */
  room?: (n: number, eventName: string, round: number) => string;
}

export interface EventSource {
  /** The next event; numbering continues across calls, so no two events of one source share an id. */
  next(): LiveKitEvent;
}

export function createEventSource(options: EventSourceOptions = {}): EventSource {
  const roomOf = options.room ?? ((n: number) => `session-${n}`);
  // The samples know where each event names its room and participant; placeholders keep that knowledge there.
  const names = inLifecycleOrder(sampleEventNames());
  const templates = names.map((name) => JSON.stringify(sampleEvent(name, { room: ROOM, participant: PARTICIPANT })));
  const run = Date.now().toString(36);
  let n = 0;
  return {
    next() {
      const i = n++;
      const round = Math.floor(i / names.length);
      const text = templates[i % names.length].replaceAll(ROOM, roomOf(i, names[i % names.length], round)).replaceAll(PARTICIPANT, `user-${round % 50}`);
      const event = JSON.parse(text) as LiveKitEvent;
      event.id = `EV_${run}${i.toString(36).padStart(7, '0')}`;
      event.createdAt = String(Math.floor(Date.now() / 1000));
      if (event.room?.metadata !== undefined) {
        event.room.metadata = JSON.stringify({ customer: `cus_${round % 997}`, plan: round % 2 === 0 ? 'pro' : 'free' });
      }
      if (event.participant?.metadata !== undefined) {
        event.participant.metadata = JSON.stringify({ role: round % 3 === 0 ? 'host' : 'guest' });
      }
      if (event.track !== undefined) event.track.source = round % 2 === 0 ? 'CAMERA' : 'SCREEN_SHARE';
      // Each round's room, participant and egress are resources of their own, as LiveKit's would be: the same sids
      // in every round would make every later start and end a duplicate of the first, which runs no rules.
      const sid = `${run}${round.toString(36)}`;
      if (event.room?.sid !== undefined) event.room.sid = `RM_${sid}`;
      // A participant ends once: the one whose connection aborted is not the one who left.
      if (event.participant?.sid !== undefined) event.participant.sid = `PA_${sid}${event.event === 'participant_connection_aborted' ? '_aborted' : ''}`;
      if (event.egressInfo?.egressId !== undefined) event.egressInfo.egressId = `EG_${sid}`;
      return event;
    },
  };
}

/**
 * A round's events as LiveKit would send them: what starts a resource before the rest, what ends one after (by
 * name alone the samples list `room_finished` before `room_started`, and a room so ended never ends in the live
 * picture, which orders by createdAt, then arrival).
 */
function inLifecycleOrder(names: string[]): string[] {
  const rank = (name: string) => (/_(started|joined|published)$/.test(name) ? 0 : /_(finished|left|ended|unpublished|aborted)$/.test(name) ? 2 : 1);
  return [...names].sort((a, b) => rank(a) - rank(b));
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
