/**
 * The pure core of reconciliation: given the store's live picture, LiveKit's answers and what the previous pass
 * missed, which rooms to ask ListParticipants for, which egress to look up, and which synthetic events to emit.
 *
 * Rooms and participants are compared by sid, never by name or identity: a room re-created under the same name,
 * or a participant who reconnected, is another resource. A room or participant must be missing (or a room unknown)
 * in two consecutive observations before an event is emitted, as a room just started may not be listed yet and a
 * webhook may be in flight. An egress needs no second look: LiveKit reports its end itself.
 */
import { EgressStatus, ParticipantInfo_State, type EgressInfo, type ParticipantInfo, type Room } from 'livekit-server-sdk';
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import type { ActiveEgress, LivePicture, LiveRoom } from './picture.ts';
import {
  syntheticEgressEnded,
  syntheticParticipantLeft,
  syntheticRoomFinished,
  syntheticRoomStarted,
} from './synthetic-event.ts';

export interface ReconcileLimits {
  /** Every this many passes, every room with participants is checked, not only those whose count disagrees. */
  fullCheckEvery: number;
  /** ListParticipants calls per pass at most; rooms left over wait for the next pass. */
  maxParticipantLists: number;
  /** ListEgress look-ups of single egress per pass at most. */
  maxEgressLookups: number;
}

export const DEFAULT_LIMITS: ReconcileLimits = { fullCheckEvery: 10, maxParticipantLists: 50, maxEgressLookups: 50 };

/** What one pass hands the next. */
export interface ReconcileState {
  /** Passes decided so far. */
  passes: number;
  /** Sids of store-live rooms LiveKit did not list. */
  roomsAbsent: ReadonlySet<string>;
  /** Sids of rooms LiveKit listed that the store has no record of. */
  roomsUnknown: ReadonlySet<string>;
  /** Sids of present participants ListParticipants did not list. */
  participantsAbsent: ReadonlySet<string>;
  /** Sids of the rooms the current full check has yet to ask about. */
  fullCheckLeft: readonly string[];
}

export const FIRST_PASS: ReconcileState = {
  passes: 0,
  roomsAbsent: new Set(),
  roomsUnknown: new Set(),
  participantsAbsent: new Set(),
  fullCheckLeft: [],
};

interface ParticipantPlan {
  /** The store's rooms to ask ListParticipants about: rooms with a pending miss, then a disagreeing count, then the full check. */
  rooms: LiveRoom[];
  fullCheckLeft: string[];
}

/**
 * Which rooms to ask ListParticipants about. Only rooms both sides have live and the store has someone present in
 * can hold a participant whose participant_left was lost.
 */
export function planParticipantLists(
  picture: LivePicture,
  liveKitRooms: readonly Room[],
  state: ReconcileState,
  limits: ReconcileLimits,
): ParticipantPlan {
  const listed = new Map(liveKitRooms.map((room) => [room.sid, room]));
  const candidates = new Map(
    picture.rooms.filter((room) => listed.has(room.sid) && room.participants.length > 0).map((room) => [room.sid, room]),
  );
  const pendingMiss = [...candidates.values()].filter((room) =>
    room.participants.some((participant) => state.participantsAbsent.has(participant.sid)),
  );
  const countDisagrees = [...candidates.values()].filter(
    (room) => listed.get(room.sid)!.numParticipants !== room.participants.length,
  );
  const fullCheckDue = state.fullCheckLeft.length === 0 && state.passes % limits.fullCheckEvery === 0;
  const fullCheck = fullCheckDue ? [...candidates.keys()] : state.fullCheckLeft.filter((sid) => candidates.has(sid));

  const chosen = new Map<string, LiveRoom>();
  for (const room of [...pendingMiss, ...countDisagrees, ...fullCheck.map((sid) => candidates.get(sid)!)]) {
    if (chosen.size === limits.maxParticipantLists) break;
    chosen.set(room.sid, room);
  }
  return { rooms: [...chosen.values()], fullCheckLeft: fullCheck.filter((sid) => !chosen.has(sid)) };
}

/** The store's active egress LiveKit does not list as active: look each up to learn how it ended. */
export function planEgressLookups(
  active: readonly ActiveEgress[],
  liveKitActive: readonly EgressInfo[],
  limits: ReconcileLimits,
): string[] {
  const stillActive = new Set(liveKitActive.map((info) => info.egressId));
  return active
    .filter((egress) => !stillActive.has(egress.egressId))
    .slice(0, limits.maxEgressLookups)
    .map((egress) => egress.egressId);
}

interface PassObservations {
  /** The time of the pass: the synthetic events' `createdAt`. */
  at: Date;
  picture: LivePicture;
  /** ListRooms' answer. */
  liveKitRooms: readonly Room[];
  /** ListParticipants' answers by room sid, for the rooms asked that answered. */
  participants: ReadonlyMap<string, readonly ParticipantInfo[]>;
  /** Among the rooms LiveKit lists that the store does not have live, those the store has recorded (e.g. finished). */
  recordedRoomSids: ReadonlySet<string>;
  /** The egress looked up, as ListEgress answered. */
  egressLookedUp: readonly EgressInfo[];
  /** What the participant plan left for later passes. */
  fullCheckLeft: readonly string[];
}

export interface PassDecision {
  /** In the order LiveKit would send them: starts, then participants leaving, egress ending, rooms finishing. */
  events: LiveKitEvent[];
  state: ReconcileState;
}

const ENDED_EGRESS = new Set([
  EgressStatus.EGRESS_COMPLETE,
  EgressStatus.EGRESS_FAILED,
  EgressStatus.EGRESS_ABORTED,
  EgressStatus.EGRESS_LIMIT_REACHED,
]);

export function decidePass(observed: PassObservations, state: ReconcileState): PassDecision {
  const { at, picture } = observed;
  const listed = new Map(observed.liveKitRooms.map((room) => [room.sid, room]));
  const started: LiveKitEvent[] = [];
  const left: LiveKitEvent[] = [];
  const finished: LiveKitEvent[] = [];
  const roomsAbsent = new Set<string>();
  const roomsUnknown = new Set<string>();
  const participantsAbsent = new Set<string>();

  for (const room of picture.rooms) {
    const liveKitRoom = listed.get(room.sid);
    if (liveKitRoom === undefined) {
      if (!state.roomsAbsent.has(room.sid)) {
        roomsAbsent.add(room.sid);
        continue;
      }
      // LiveKit sends participant_left for everyone before room_finished; both were lost.
      for (const participant of room.participants) left.push(syntheticParticipantLeft(room, participant, at));
      finished.push(syntheticRoomFinished(room, at));
      continue;
    }
    const answer = observed.participants.get(room.sid);
    if (answer === undefined) {
      // Not asked this pass, or no answer: its misses wait for the next observation.
      for (const { sid } of room.participants) if (state.participantsAbsent.has(sid)) participantsAbsent.add(sid);
      continue;
    }
    const connected = new Set(answer.filter(isConnected).map((participant) => participant.sid));
    for (const participant of room.participants) {
      if (connected.has(participant.sid)) continue;
      if (state.participantsAbsent.has(participant.sid)) left.push(syntheticParticipantLeft(liveKitRoom, participant, at));
      else participantsAbsent.add(participant.sid);
    }
  }

  for (const sid of roomsNotLive(picture, observed.liveKitRooms)) {
    if (observed.recordedRoomSids.has(sid)) continue;
    if (state.roomsUnknown.has(sid)) started.push(syntheticRoomStarted(listed.get(sid)!, at));
    else roomsUnknown.add(sid);
  }

  const active = new Set(picture.egress.map((egress) => egress.egressId));
  const egressEnded = observed.egressLookedUp
    .filter((info) => active.has(info.egressId) && ENDED_EGRESS.has(info.status))
    .map((info) => syntheticEgressEnded(info, at));

  return {
    events: [...started, ...left, ...egressEnded, ...finished],
    state: {
      passes: state.passes + 1,
      roomsAbsent,
      roomsUnknown,
      participantsAbsent,
      fullCheckLeft: observed.fullCheckLeft,
    },
  };
}

/** A participant LiveKit lists as disconnected is on its way out: it counts as absent. */
function isConnected(participant: ParticipantInfo): boolean {
  return participant.state !== ParticipantInfo_State.DISCONNECTED;
}

/** The room sids LiveKit lists that the store does not have live: the store says which of them it has recorded. */
export function roomsNotLive(picture: LivePicture, liveKitRooms: readonly Room[]): string[] {
  const live = new Set(picture.rooms.map((room) => room.sid));
  return liveKitRooms.map((room) => room.sid).filter((sid) => !live.has(sid));
}
