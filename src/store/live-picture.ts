/**
 * The live picture as the store keeps it: rooms, the participants present in them, and their egress and ingress,
 * drawn from the events recorded. Each row follows the newest event about its resource (by LiveKit's `createdAt`,
 * then arrival, as sessions do), and resources are keyed by sid: a participant who reconnected is another row.
 */

/** Switchboard's own events (synthetic ones, alerts) are recorded as signed by this key; webhooks never are. */
export const OWN_API_KEY = 'switchboard';

export type ResourceKind = 'room' | 'participant' | 'egress' | 'ingress';
export type StreamKind = 'egress' | 'ingress';

/**
 * What one event changes in the picture. `edge` is the start or end of the resource: each resource starts and ends
 * once, whichever of the real or the synthetic event comes first (a later one is a duplicate of it); an update has
 * no edge.
 */
export interface PictureChange {
  kind: ResourceKind;
  /** The room's or participant's sid, or the egress or ingress id. */
  id: string;
  edge: 'start' | 'end' | null;
  /** Whether the edge is the resource's only one (rooms, participants, egress), so that a second is a duplicate. */
  once: boolean;
  /** The status the resource is in after the event: live/finished, present/left, or LiveKit's egress/ingress status. */
  status: string;
  /** When it happened: LiveKit's createdAt, else when it was received. */
  at: Date;
  room: { sid: string; name: string };
  /** The participant's identity. */
  identity?: string;
  /** The resource's object as the event carries it (room, participant, egressInfo, ingressInfo). */
  info?: unknown;
}

export interface RoomRecord {
  /** Listing order: increases with every room first seen. */
  id: number;
  sid: string;
  name: string;
  status: 'live' | 'finished';
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ParticipantRecord {
  sid: string;
  identity: string;
  roomSid: string;
  joinedAt: Date | null;
  info: unknown;
}

export interface StreamRecord {
  kind: StreamKind;
  id: string;
  roomSid: string;
  roomName: string;
  status: string;
  startedAt: Date | null;
  endedAt: Date | null;
}

export interface RoomEventRecord {
  id: string;
  name: string;
  createdAt: number | null;
  receivedAt: Date;
  synthetic: boolean;
}

export interface RoomDetail extends RoomRecord {
  /** The room object of the latest event about it. */
  info: unknown;
  participants: ParticipantRecord[];
  egress: StreamRecord[];
  ingress: StreamRecord[];
  /** The starts and ends recorded in the room (room, participants, egress), newest first. */
  events: RoomEventRecord[];
}

export interface PictureCounts {
  roomsLive: number;
  participantsPresent: number;
}

/** One replica's hold on a job only one replica may run at a time (reconciliation). */
export interface Leadership {
  /** False once the hold is lost (e.g. its connection broke): another replica may have it now. */
  held(): Promise<boolean>;
  release(): Promise<void>;
}
