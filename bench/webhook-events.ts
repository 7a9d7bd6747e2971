/**
 * Unique, realistic webhook events: the shipped samples of every event name in turn (a round), each with its own
 * id and room, the fields the generated rules look at varied from round to round so only some rules hold.
 */
import { execFileSync } from 'node:child_process';
import type { LiveKitEvent } from '../src/livekit/event-types.ts';
import { sampleEvent, sampleEventNames } from '../src/livekit/samples.ts';
import { signWebhook } from '../src/livekit/sign.ts';
import type { Credentials } from './setup.ts';

const ROOM = '@@bench-room@@';
const PARTICIPANT = '@@bench-participant@@';

export interface EventSourceOptions {
  /** The room of the n-th event, `eventName` of round `round`; by default `session-<n>`, a room of its own. */
  room?: (n: number, eventName: string, round: number) => string;
  /**
   * Rooms in turn instead, `session-<n % rooms>`; an egress or ingress belongs to its room, as in LiveKit, so that
   * every ordering key (room name, ingress id) repeats at the same pace. An egress starts and ends once: each pass
   * over the rooms has egresses of its own.
   */
  rooms?: number;
}

/** `next()`: the next event; numbering continues across calls, so no two events of one source share an id. */
export type EventSource = { next(): LiveKitEvent };

export function createEventSource({ room, rooms }: EventSourceOptions = {}): EventSource {
  const roomOf = rooms ? (n: number) => `session-${n % rooms}` : (room ?? ((n: number) => `session-${n}`));
  // The samples know where each event names its room and participant; placeholders keep that knowledge there.
  const names = inLifecycleOrder(sampleEventNames());
  const templates = names.map((name) => JSON.stringify(sampleEvent(name, { room: ROOM, participant: PARTICIPANT })));
  const run = Date.now().toString(36);
  let n = 0;
  return {
    next() {
      const i = n++;
      const round = Math.floor(i / names.length);
      const roomName = roomOf(i, names[i % names.length], round);
      const text = templates[i % names.length].replaceAll(ROOM, roomName).replaceAll(PARTICIPANT, `user-${round % 50}`);
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
      if (event.egressInfo?.egressId !== undefined) event.egressInfo.egressId = rooms ? `EG_${roomName}_${Math.floor(i / rooms)}` : `EG_${sid}`;
      if (rooms && event.ingressInfo) event.ingressInfo.ingressId = `IN_${roomName}`;
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

/** `authorization`: the header LiveKit would send with this body, its signed token; `id`: the event's. */
export type SignedDelivery = { id: string; body: string; authorization: string };

/**
 * The next `count` events of `source`, signed as LiveKit signs them, before a run and never during it. A collection
 * afterwards (the scripts run with --expose-gc) keeps the signing's garbage out of the run; `flushDisk` also waits
 * for the disk's writeback of the run before (Switchboard writes a few hundred megabytes at max throughput).
 */
export async function signBeforeRun(source: EventSource, count: number, credentials: Credentials, flushDisk = false): Promise<SignedDelivery[]> {
  const deliveries: SignedDelivery[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const event = source.next();
    const body = JSON.stringify(event);
    deliveries[i] = { id: event.id!, body, authorization: await signWebhook({ body, ...credentials }) };
  }
  (globalThis as { gc?: () => void }).gc?.();
  if (flushDisk) execFileSync('sync');
  return deliveries;
}

/** Events of 500 rooms in turn, so that with the delivery benchmarks' rates ordering keys repeat about every 0.5 s. */
export const roomScopedEvents = (): EventSource => createEventSource({ rooms: 500 });
