/** The live picture: rooms newest first, and one room with who is present, its egress and ingress, its last events. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import type { ParticipantRecord, RoomDetail, RoomRecord, StreamRecord } from '../../store/live-picture.ts';
import type { Store } from '../../store/store.ts';
import { PAGE_QUERY, route, type PageQuery, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

export interface RoomsQuery extends PageQuery {
  status?: RoomRecord['status'];
}

export function roomRoutes(router: Router, context: RouteContext, { store }: AdminRouteOptions): void {
  route<Record<string, never>, RoomsQuery>(router, context, 'get', '/api/v1/rooms', {
    query: {
      type: 'object',
      additionalProperties: false,
      properties: { status: { enum: ['live', 'finished'] }, ...PAGE_QUERY },
    },
  }, async ({ query: { limit, cursor, status } }) => listRooms(store, { status }, { limit, cursor }));
  route<{ name: string }>(router, context, 'get', '/api/v1/rooms/:name', {}, async ({ params }) => findRoom(store, params.name));
}

export async function listRooms(store: Store, filter: { status?: RoomRecord['status'] }, page: PageQuery) {
  const rooms = await store.listRooms(filter, page);
  return { rooms: rooms.items.map(roomView), next_cursor: rooms.nextCursor };
}

export async function findRoom(store: Store, name: string) {
  const room = await store.getRoom(name);
  if (!room) throw new SwitchboardError('E_NOT_FOUND', `no room "${name}" has been seen`);
  return roomDetailView(room);
}

function roomView(room: RoomRecord) {
  return {
    sid: room.sid,
    name: room.name,
    status: room.status,
    started_at: room.startedAt?.toISOString() ?? null,
    finished_at: room.finishedAt?.toISOString() ?? null,
  };
}

function roomDetailView(room: RoomDetail) {
  return {
    ...roomView(room),
    participants: room.participants.map(participantView),
    egress: room.egress.map(streamView),
    ingress: room.ingress.map(streamView),
    events: room.events.map((event) => ({
      id: event.id,
      type: event.name,
      created_at: event.createdAt,
      received_at: event.receivedAt.toISOString(),
      synthetic: event.synthetic,
    })),
  };
}

function participantView(participant: ParticipantRecord) {
  return { sid: participant.sid, identity: participant.identity, joined_at: participant.joinedAt?.toISOString() ?? null };
}

function streamView(stream: StreamRecord) {
  return {
    id: stream.id,
    status: stream.status,
    started_at: stream.startedAt?.toISOString() ?? null,
    ended_at: stream.endedAt?.toISOString() ?? null,
  };
}
