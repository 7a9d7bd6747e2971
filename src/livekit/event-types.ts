/** The shape of a LiveKit webhook body (protojson): camelCase, int64 values as strings, zero values omitted. */
export interface LiveKitEvent {
  event: string;
  id?: string;
  /** Seconds since the epoch, as a string (int64). */
  createdAt?: string;
  room?: LiveKitRoom;
  participant?: LiveKitParticipant;
  track?: Record<string, unknown>;
  egressInfo?: Record<string, unknown>;
  ingressInfo?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface LiveKitRoom {
  sid?: string;
  name?: string;
  metadata?: string;
  [field: string]: unknown;
}

export interface LiveKitParticipant {
  sid?: string;
  identity?: string;
  metadata?: string;
  [field: string]: unknown;
}

/**
 * What rules see: the event exactly as LiveKit sent it, plus `room.metadataJson` and `participant.metadataJson`
 * holding the parsed `metadata` string when it is valid JSON.
 */
export type EventContext = LiveKitEvent;

/** The event names LiveKit sends today. Others are accepted too: this list feeds samples and editor hints only. */
export const KNOWN_EVENT_NAMES = [
  'room_started',
  'room_finished',
  'participant_joined',
  'participant_left',
  'participant_connection_aborted',
  'track_published',
  'track_unpublished',
  'egress_started',
  'egress_updated',
  'egress_ended',
  'ingress_started',
  'ingress_ended',
] as const;
