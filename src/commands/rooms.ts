/** `switchboard rooms ls|show`: the live picture of a running Switchboard, through its admin API. */
import { callAdmin, type AdminClient } from './admin-client.ts';
import { clip, shortTime, table } from './table.ts';

export interface RoomsOptions {
  status?: string;
  limit?: string;
  cursor?: string;
  json: boolean;
}

interface RoomRow {
  sid: string;
  name: string;
  status: string;
  started_at: string | null;
  finished_at: string | null;
}

interface Stream {
  id: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
}

interface RoomDetail extends RoomRow {
  participants: Array<{ sid: string; identity: string; joined_at: string | null }>;
  egress: Stream[];
  ingress: Stream[];
  events: Array<{ id: string; type: string; received_at: string; synthetic: boolean }>;
}

const when = (iso: string | null) => (iso === null ? '-' : shortTime(iso));

export async function listRooms(client: AdminClient, options: RoomsOptions): Promise<number> {
  const query = new URLSearchParams();
  for (const key of ['status', 'limit', 'cursor'] as const) {
    const value = options[key];
    if (value !== undefined) query.set(key, value);
  }
  const results = await callAdmin<{ rooms: RoomRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/rooms?${query}`);
  if (options.json) {
    console.log(JSON.stringify(results, null, 2));
    return 0;
  }
  if (results.rooms.length === 0) {
    console.log('no rooms');
    return 0;
  }
  console.log(
    table([
      ['NAME', 'STATUS', 'STARTED', 'FINISHED', 'SID'],
      ...results.rooms.map((room) => [clip(room.name, 40), room.status, when(room.started_at), when(room.finished_at), room.sid]),
    ]),
  );
  if (results.next_cursor) console.log(`\nmore: --cursor ${results.next_cursor}`);
  return 0;
}

export async function showRoom(client: AdminClient, name: string, options: { json: boolean }): Promise<number> {
  const room = await callAdmin<RoomDetail>(client, 'GET', `/api/v1/rooms/${encodeURIComponent(name)}`);
  if (options.json) {
    console.log(JSON.stringify(room, null, 2));
    return 0;
  }
  console.log(`${room.name} (${room.sid}): ${room.status}, started ${when(room.started_at)}, finished ${when(room.finished_at)}`);
  console.log(`\nparticipants present: ${room.participants.length}`);
  if (room.participants.length > 0) {
    console.log(table([['IDENTITY', 'JOINED', 'SID'], ...room.participants.map((p) => [clip(p.identity, 40), when(p.joined_at), p.sid])]));
  }
  for (const [title, streams] of [['egress', room.egress], ['ingress', room.ingress]] as const) {
    if (streams.length === 0) continue;
    console.log(`\n${title}:`);
    console.log(table([['ID', 'STATUS', 'STARTED', 'ENDED'], ...streams.map((s) => [s.id, s.status, when(s.started_at), when(s.ended_at)])]));
  }
  console.log('\nlast events:');
  console.log(
    table([
      ['RECEIVED', 'TYPE', 'ID'],
      ...room.events.map((event) => [shortTime(event.received_at), event.synthetic ? `${event.type} (synthetic)` : event.type, event.id]),
    ]),
  );
  return 0;
}
