/**
 * What an event changes in the live picture, read from the event as LiveKit sends it (or as reconciliation
 * synthesises it). Only the events named here change it; ingest asks nothing of the store for the others.
 */
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import { nestsDeeperThan } from '../../plain-object.ts';
import type { PictureChange, ResourceKind } from '../../store/live-picture.ts';

/**
 * How deep a room's or participant's object may nest to be kept whole in the picture. Past it (fields an end user
 * filled) only what names it is kept: serialising it would overflow the call stack.
 */
const INFO_MAX_DEPTH = 32;

function storable<T extends { sid?: string }>(info: T | undefined, naming: Partial<T>): T | Partial<T> | undefined {
  return info !== undefined && nestsDeeperThan(info, INFO_MAX_DEPTH) ? { sid: info.sid, ...naming } : info;
}

interface Shape {
  kind: ResourceKind;
  edge: PictureChange['edge'];
  /** False for ingress, which starts and ends again and again under one id. */
  once?: false;
  /** The status after the event, when the event's own object does not say it. */
  status?: string;
}

const SHAPES: Readonly<Record<string, Shape>> = {
  room_started: { kind: 'room', edge: 'start', status: 'live' },
  room_finished: { kind: 'room', edge: 'end', status: 'finished' },
  participant_joined: { kind: 'participant', edge: 'start', status: 'present' },
  participant_left: { kind: 'participant', edge: 'end', status: 'left' },
  participant_connection_aborted: { kind: 'participant', edge: 'end', status: 'left' },
  egress_started: { kind: 'egress', edge: 'start' },
  egress_updated: { kind: 'egress', edge: null },
  egress_ended: { kind: 'egress', edge: 'end' },
  ingress_started: { kind: 'ingress', edge: 'start', once: false },
  ingress_ended: { kind: 'ingress', edge: 'end', once: false },
};

/** Undefined for events that change nothing in the picture, or that lack the resource's id. */
export function pictureChange(event: LiveKitEvent, createdAt: number | null, receivedAt: Date): PictureChange | undefined {
  const shape = SHAPES[event.event];
  if (shape === undefined) return undefined;
  const at = createdAt === null ? receivedAt : new Date(createdAt * 1000);
  const room = { sid: str(event.room?.sid), name: str(event.room?.name) };
  const base = { kind: shape.kind, edge: shape.edge, once: shape.once ?? shape.edge !== null, at, room };
  switch (shape.kind) {
    case 'room':
      return room.sid === '' ? undefined : { ...base, id: room.sid, status: shape.status!, info: storable(event.room, { name: room.name }) };
    case 'participant': {
      const participant = event.participant;
      const sid = str(participant?.sid);
      if (sid === '') return undefined;
      return { ...base, id: sid, status: shape.status!, identity: str(participant?.identity), info: storable(participant, { identity: str(participant?.identity) }) };
    }
    case 'egress': {
      const info = event.egressInfo as Record<string, unknown> | undefined;
      const id = str(info?.egressId);
      if (id === '') return undefined;
      const egressRoom = { sid: str(info?.roomId) || room.sid, name: str(info?.roomName) || room.name };
      return { ...base, id, room: egressRoom, status: str(info?.status) || 'EGRESS_STARTING' };
    }
    case 'ingress': {
      const info = event.ingressInfo as Record<string, unknown> | undefined;
      const id = str(info?.ingressId);
      if (id === '') return undefined;
      const state = info?.state as Record<string, unknown> | undefined;
      const ingressRoom = { sid: str(state?.roomId) || room.sid, name: str(info?.roomName) || room.name };
      const status = str(state?.status) || (event.event === 'ingress_ended' ? 'ENDPOINT_INACTIVE' : 'ENDPOINT_PUBLISHING');
      return { ...base, id, room: ingressRoom, status };
    }
  }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
