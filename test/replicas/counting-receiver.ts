/**
 * The partner endpoint of the multi-replica test: counts every request by event, in arrival order, and fails about
 * one in `failOneIn` with a 500. The choice hashes the event id and how often that event has arrived, so a run is
 * repeatable and a retry of a failed event can succeed.
 */
import { createHash } from 'node:crypto';
import { startReceiver } from '../helpers/receivers.ts';

export interface Arrival {
  eventId: string;
  room: string;
  /** What the receiver answered: 200, or 500 for a failure it chose. */
  status: number;
}

export interface CountingReceiver {
  url: string;
  /** Every request, in the order it arrived. */
  arrivals: Arrival[];
  /** The ids of the events answered 200 at least once. */
  delivered(): Set<string>;
  /** 200s for an event that had been answered 200 before. */
  duplicates(): number;
  /** For each room, its event ids in the order of their first 200: a failed attempt is no delivery. */
  firstDeliveriesByRoom(): Map<string, string[]>;
  close(): Promise<void>;
}

export async function startCountingReceiver(failOneIn: number): Promise<CountingReceiver> {
  const arrivals: Arrival[] = [];
  const arrivalsPerEvent = new Map<string, number>();
  const receiver = await startReceiver((request, response) => {
    const event = JSON.parse(request.body) as { id: string; room: { name: string } };
    const arrival = (arrivalsPerEvent.get(event.id) ?? 0) + 1;
    arrivalsPerEvent.set(event.id, arrival);
    const status = chosenToFail(`${event.id}#${arrival}`, failOneIn) ? 500 : 200;
    arrivals.push({ eventId: event.id, room: event.room.name, status });
    response.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  });
  const successes = () => arrivals.filter((arrival) => arrival.status === 200);
  const delivered = () => new Set(successes().map((arrival) => arrival.eventId));
  return {
    url: receiver.url,
    arrivals,
    delivered,
    duplicates: () => successes().length - delivered().size,
    firstDeliveriesByRoom() {
      const byRoom = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const { eventId, room } of successes()) {
        if (seen.has(eventId)) continue;
        seen.add(eventId);
        byRoom.set(room, [...(byRoom.get(room) ?? []), eventId]);
      }
      return byRoom;
    },
    close: () => receiver.close(),
  };
}

function chosenToFail(key: string, failOneIn: number): boolean {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % failOneIn === 0;
}
