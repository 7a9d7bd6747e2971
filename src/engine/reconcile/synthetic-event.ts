/**
 * Synthetic events: what reconciliation concludes LiveKit would have sent, shaped as LiveKit's own webhook bodies
 * (protojson: camelCase, int64 as strings) plus `synthetic: true` and `reconciledAt`.
 *
 * Their ids are deterministic, `EV_synthetic_<event>_<sid>` (the room's or participant's sid, the egress id): each
 * resource starts and ends once, so two replicas, or two passes, concluding the same thing record it once.
 */
import { Room, type EgressInfo } from 'livekit-server-sdk';
import type { LiveKitEvent, LiveKitRoom } from '../../livekit/event-types.ts';
import type { LiveRoom, PresentParticipant } from './picture.ts';

type SyntheticEventName = 'room_started' | 'room_finished' | 'participant_left' | 'egress_ended';

export function syntheticEventId(event: SyntheticEventName, resourceId: string): string {
  return `EV_synthetic_${event}_${resourceId}`;
}

/** A room LiveKit lists that the store has not seen start. */
export function syntheticRoomStarted(room: Room, at: Date): LiveKitEvent {
  return synthetic('room_started', room.sid, at, { room: protojson(room) });
}

/** A room LiveKit no longer lists. */
export function syntheticRoomFinished(room: LiveRoom, at: Date): LiveKitEvent {
  return synthetic('room_finished', room.sid, at, { room: roomBody(room) });
}

/** A participant LiveKit no longer lists; `room` is LiveKit's current room when it still lists it. */
export function syntheticParticipantLeft(room: LiveRoom | Room, participant: PresentParticipant, at: Date): LiveKitEvent {
  return synthetic('participant_left', participant.sid, at, {
    room: room instanceof Room ? protojson(room) : roomBody(room),
    participant: { ...participant.info, sid: participant.sid, identity: participant.identity, state: 'DISCONNECTED' },
  });
}

/** An egress LiveKit reports ended: its `egressInfo` is LiveKit's own, as ListEgress gave it. */
export function syntheticEgressEnded(info: EgressInfo, at: Date): LiveKitEvent {
  return synthetic('egress_ended', info.egressId, at, {
    room: { sid: info.roomId, name: info.roomName },
    egressInfo: protojson(info),
  });
}

function synthetic(event: SyntheticEventName, resourceId: string, at: Date, fields: Partial<LiveKitEvent>): LiveKitEvent {
  return {
    event,
    ...fields,
    id: syntheticEventId(event, resourceId),
    createdAt: String(Math.floor(at.getTime() / 1000)),
    synthetic: true,
    reconciledAt: at.toISOString(),
  };
}

function roomBody(room: LiveRoom): LiveKitRoom {
  return { ...room.info, sid: room.sid, name: room.name };
}

/** A LiveKit message as its webhooks carry it. */
function protojson(message: Room | EgressInfo): Record<string, unknown> {
  return message.toJson() as Record<string, unknown>;
}
