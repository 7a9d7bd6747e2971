/**
 * A day of LiveKit traffic for billing tests, generated from a seed: rooms of several customers, participants joining
 * and leaving (some connections aborted), egress recordings and rooms finishing, as webhook bodies in LiveKit's
 * protojson shape (int64 values as strings, egress times in nanoseconds). The customer is in the room's JSON metadata
 * and, because egress events carry no room, also at the start of the room's name (`<customer>.room-7`). Each billable
 * event comes with what it should bill, worked out here with plain arithmetic, independently of the billing plugin.
 */
import { seededRandom } from '../helpers/billing-receiver.ts';

export interface DayOptions {
  rooms: number;
  customers: string[];
  /** Share of rooms whose metadata names no customer: their usage cannot be billed. */
  unbilledRooms: number;
  /** Share of rooms recorded by an egress. */
  egressRooms: number;
  seed: number;
}

/** What one event should bill. */
export interface Charge {
  customer: string;
  meter: 'participant_minutes' | 'room_minutes' | 'egress_minutes';
  quantity: number;
}

export interface DayEvent {
  id: string;
  name: string;
  body: string;
  /** Absent for events that bill nothing (or cannot: no customer). */
  charge?: Charge;
}

const DAY_START_MS = Date.UTC(2025, 10, 23);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export function generateDay(options: DayOptions): DayEvent[] {
  const random = seededRandom(options.seed);
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const events: Array<DayEvent & { at: number }> = [];
  let counter = 0;
  const add = (at: number, name: string, fields: Record<string, unknown>, charge?: Charge) => {
    const id = `EV_day_${String(++counter).padStart(5, '0')}`;
    const body = JSON.stringify({ event: name, ...fields, id, createdAt: String(Math.floor(at / SECOND)) });
    events.push({ id, name, body, at, ...(charge && { charge }) });
  };

  for (let r = 0; r < options.rooms; r++) {
    const customer = random() < options.unbilledRooms ? undefined : options.customers[between(0, options.customers.length - 1)];
    const createdMs = DAY_START_MS + between(0, 20 * HOUR);
    const withMs = random() < 0.85;
    const room = {
      sid: `RM_day${r}`,
      name: `${customer ?? 'trial'}.room-${r}`,
      emptyTimeout: 300,
      creationTime: String(Math.floor(createdMs / SECOND)),
      ...(withMs && { creationTimeMs: String(createdMs) }),
      metadata: JSON.stringify(customer === undefined ? { plan: 'trial' } : { customer, plan: 'pro' }),
    };
    add(createdMs, 'room_started', { room });
    let lastMs = createdMs;

    const participants = between(1, 6);
    for (let p = 0; p < participants; p++) {
      const joinedMs = createdMs + between(0, 10 * MINUTE);
      const aborted = random() < 0.1;
      const stayMs = aborted ? between(SECOND, 30 * SECOND) : between(5 * SECOND, 2 * HOUR);
      const leftAtSeconds = Math.floor((joinedMs + stayMs) / SECOND);
      const knowsMs = random() < 0.8;
      const participant = {
        sid: `PA_day${r}_${p}`,
        identity: `user-${r}-${p}`,
        joinedAt: String(Math.floor(joinedMs / SECOND)),
        ...(knowsMs && { joinedAtMs: String(joinedMs) }),
      };
      add(joinedMs, 'participant_joined', { room, participant: { ...participant, state: 'ACTIVE' } });
      // createdAt is in whole seconds; the join is counted from the millisecond when LiveKit gives it.
      const startMs = knowsMs ? joinedMs : Math.floor(joinedMs / SECOND) * SECOND;
      const minutes = Math.ceil((leftAtSeconds * SECOND - startMs) / MINUTE);
      add(leftAtSeconds * SECOND, aborted ? 'participant_connection_aborted' : 'participant_left', { room, participant: { ...participant, state: 'DISCONNECTED' } },
        customer === undefined ? undefined : { customer, meter: 'participant_minutes', quantity: minutes });
      lastMs = Math.max(lastMs, leftAtSeconds * SECOND);
    }

    if (random() < options.egressRooms) {
      const startedNs = BigInt(createdMs + between(0, 5 * MINUTE)) * 1_000_000n + BigInt(between(0, 999_999));
      const endedNs = startedNs + BigInt(between(10 * SECOND, HOUR)) * 1_000_000n + BigInt(between(0, 999_999));
      const egressInfo = { egressId: `EG_day${r}`, roomId: room.sid, roomName: room.name, status: 'EGRESS_COMPLETE', startedAt: String(startedNs) };
      // As LiveKit sends egress events: the egress alone, no room.
      add(Number(startedNs / 1_000_000n), 'egress_started', { egressInfo: { ...egressInfo, status: 'EGRESS_ACTIVE' } });
      const minutes = Number((endedNs - startedNs + 60_000_000_000n - 1n) / 60_000_000_000n);
      const endedMs = Number(endedNs / 1_000_000n);
      add(endedMs, 'egress_ended', { egressInfo: { ...egressInfo, endedAt: String(endedNs) } },
        customer === undefined ? undefined : { customer, meter: 'egress_minutes', quantity: minutes });
      lastMs = Math.max(lastMs, endedMs);
    }

    const finishedAtSeconds = Math.floor((lastMs + between(0, 300 * SECOND)) / SECOND) + 1;
    const startMs = withMs ? createdMs : Math.floor(createdMs / SECOND) * SECOND;
    // Billed in seconds, to the nearest one.
    const seconds = Math.round((finishedAtSeconds * SECOND - startMs) / SECOND);
    add(finishedAtSeconds * SECOND, 'room_finished', { room }, customer === undefined ? undefined : { customer, meter: 'room_minutes', quantity: seconds });
  }
  return events.sort((a, b) => a.at - b.at).map(({ at: _, ...event }) => event);
}

/** What the day should bill, by customer then meter. */
export function expectedTotals(events: DayEvent[]): Record<string, Record<string, number>> {
  const totals: Record<string, Record<string, number>> = {};
  for (const { charge } of events) {
    if (!charge) continue;
    totals[charge.customer] ??= {};
    totals[charge.customer][charge.meter] = (totals[charge.customer][charge.meter] ?? 0) + charge.quantity;
  }
  return totals;
}
