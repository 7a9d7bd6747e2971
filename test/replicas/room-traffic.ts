/**
 * Webhooks as LiveKit sends them for many rooms: each room starts, participants join and leave, and it finishes,
 * with `createdAt` rising through the room's life. Ids are fixed, so every run sends the same bytes.
 */
import { sampleBody } from '../helpers/switchboard.ts';

export interface RoomEvent {
  id: string;
  room: string;
  /** Its place in its room's sequence, from 0. */
  index: number;
  body: string;
}

const FIRST_CREATED_AT = 1_893_456_000; // 2030-01-01, in seconds as LiveKit sends it

/** `rooms` rooms of 2 + 2 × `participants` events each: started, joined/left interleaved, finished. */
export function roomTraffic(rooms: number, participants: number): RoomEvent[][] {
  return Array.from({ length: rooms }, (_, r) => {
    const name = `session-${String(r).padStart(4, '0')}`;
    const room = { name, sid: `RM_${name}`, creationTime: String(FIRST_CREATED_AT + r) };
    const steps: Array<[string, Record<string, unknown>]> = [['room_started', {}]];
    const participant = (p: number) => ({ participant: { sid: `PA_${name}_${p}`, identity: `user-${p}`, name: `User ${p}` } });
    for (let p = 0; p < participants; p++) {
      steps.push(['participant_joined', participant(p)]);
      if (p > 0) steps.push(['participant_left', participant(p - 1)]);
    }
    steps.push(['participant_left', participant(participants - 1)], ['room_finished', {}]);
    return steps.map(([event, patch], index) => {
      const id = `EV_${name}_${String(index).padStart(2, '0')}`;
      const createdAt = String(FIRST_CREATED_AT + r + index * 5);
      return { id, room: name, index, body: sampleBody(event, { ...patch, id, createdAt, room }) };
    });
  });
}
