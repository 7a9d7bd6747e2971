/** Webhook bodies as events: the shape check at the edge, and what the engine derives from an event. */
import { createHash } from 'node:crypto';
import { SwitchboardError } from '../errors.ts';
import type { EventContext, LiveKitEvent, LiveKitParticipant, LiveKitRoom } from './event-types.ts';
import { isPlainObject, nestsDeeperThan } from '../plain-object.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const DIGITS = /^\d+$/;
/**
 * Metadata is set by end users: larger or deeper metadata is not offered parsed to rules (it stays in `metadata`),
 * so that no participant can make every action that renders it too deep to store or too large to parse per event.
 */
export const METADATA_JSON_MAX_CHARS = 64 * 1024;
export const METADATA_JSON_MAX_DEPTH = 32;

/**
 * Parses a verified webhook body. Checks only what Switchboard relies on; unknown event names and fields pass
 * through untouched, so new LiveKit events keep flowing. Throws `E_WEBHOOK_INVALID_PAYLOAD`.
 *
 * @example
 * const event = parseEvent(Buffer.from('{"event":"room_started","room":{"name":"demo"}}'));
 */
export function parseEvent(body: Uint8Array): LiveKitEvent {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw invalid('webhook body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`webhook body is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) throw invalid('webhook body must be a JSON object');
  if (typeof value.event !== 'string' || value.event === '') throw invalid('webhook body has no "event" name');
  if (value.id !== undefined && typeof value.id !== 'string') throw invalid('webhook "id" must be a string');
  // protojson readers accept int64 as a number too; storing it as the usual string keeps one type downstream.
  if (typeof value.createdAt === 'number' && Number.isSafeInteger(value.createdAt) && value.createdAt >= 0) {
    value.createdAt = String(value.createdAt);
  }
  if (value.createdAt !== undefined && !(typeof value.createdAt === 'string' && DIGITS.test(value.createdAt))) {
    throw invalid('webhook "createdAt" must be whole seconds since the epoch');
  }
  for (const field of ['room', 'participant']) {
    if (value[field] !== undefined && !isPlainObject(value[field])) throw invalid(`webhook "${field}" must be an object`);
  }
  return value as LiveKitEvent;
}

/** When LiveKit created the event, in seconds since the epoch, or null when it did not say. */
export function eventCreatedAt(event: LiveKitEvent): number | null {
  return event.createdAt !== undefined && DIGITS.test(event.createdAt) ? Number(event.createdAt) : null;
}

/** The room an event is about, named by its room, or by its egress or ingress; null when it names none. */
export function eventRoomName(event: LiveKitEvent): string | null {
  const named = [event.room?.name, event.egressInfo?.roomName, event.ingressInfo?.roomName].find(
    (name) => typeof name === 'string' && name !== '',
  );
  return (named as string | undefined) ?? null;
}

/** The identity of a delivery across redeliveries: LiveKit's event id, or the body's digest when it has none. */
export function dedupeKey(event: LiveKitEvent, body: Uint8Array): string {
  return event.id || `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** The event as rules see it: a copy whose room and participant carry `metadataJson` when `metadata` is JSON. */
export function buildContext(event: LiveKitEvent): EventContext {
  const context: EventContext = { ...event };
  if (event.room !== undefined) context.room = withMetadataJson(event.room);
  if (event.participant !== undefined) context.participant = withMetadataJson(event.participant);
  return context;
}

function withMetadataJson<T extends LiveKitRoom | LiveKitParticipant>(entity: T): T {
  const copy: T = { ...entity };
  // A body field of that name must not pass for metadata Switchboard parsed.
  delete copy.metadataJson;
  const { metadata } = entity;
  if (typeof metadata === 'string' && metadata !== '' && metadata.length <= METADATA_JSON_MAX_CHARS) {
    try {
      const parsed: unknown = JSON.parse(metadata);
      if (!nestsDeeperThan(parsed, METADATA_JSON_MAX_DEPTH)) copy.metadataJson = parsed;
    } catch {
      // Free-form metadata is common; rules simply see no metadataJson.
    }
  }
  return copy;
}

function invalid(message: string): SwitchboardError {
  return new SwitchboardError('E_WEBHOOK_INVALID_PAYLOAD', message);
}
