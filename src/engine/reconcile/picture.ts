/**
 * What reconciliation needs from the store: its live picture (rooms live, participants present, egress active), as
 * the events recorded so far have drawn it. The store implements `LivePictureSource`; reconciliation only reads.
 */
import type { LiveKitParticipant, LiveKitRoom } from '../../livekit/event-types.ts';

export interface LivePicture {
  /** Rooms whose latest room event is a start, with the participants present in each. */
  rooms: readonly LiveRoom[];
  /** Egress whose latest egress event is not an end. */
  egress: readonly ActiveEgress[];
}

export interface LiveRoom {
  sid: string;
  name: string;
  /** The room object of the latest event about it (metadata, creationTime…): a synthetic event about it reuses it. */
  info?: LiveKitRoom;
  /** By participant sid: a participant who reconnected appears with the new sid, and may linger with the old one. */
  participants: readonly PresentParticipant[];
}

export interface PresentParticipant {
  sid: string;
  identity: string;
  /** The participant object of its participant_joined (joinedAt, metadata…), reused by a synthetic participant_left. */
  info?: LiveKitParticipant;
}

export interface ActiveEgress {
  egressId: string;
  roomName?: string;
}

export interface LivePictureSource {
  livePicture(): Promise<LivePicture>;
  /** Of these room sids, those the store has any event of, whatever their status (e.g. finished). */
  recordedRoomSids(sids: readonly string[]): Promise<ReadonlySet<string>>;
}
