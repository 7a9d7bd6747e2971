/** Sample webhook events (LiveKit's own encoding of each event) for `switchboard send`, docs and tests. */
import { createHash, randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LiveKitEvent } from './event-types.ts';
import { isPlainObject } from '../plain-object.ts';

const SAMPLES_DIR = join(import.meta.dirname, 'samples');
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

interface SampleOverrides {
  /** Replaces the room name wherever the event names its room. */
  room?: string;
  /** Replaces the participant identity wherever the event names its participant. */
  participant?: string;
  /** The event's `createdAt` (whole seconds of it) instead of the clock's now: the sample is the same every time. */
  now?: Date;
  /** The event's id instead of a fresh one. */
  id?: string;
}

/** The event names that have a sample, sorted. */
export function sampleEventNames(): string[] {
  return readdirSync(SAMPLES_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

/**
 * A fresh copy of the sample for `name`, with a new `id` and `createdAt` = now (or `overrides.now`), its other times
 * moved by as much; undefined when there is none.
 *
 * @example
 * sampleEvent('participant_joined', { room: 'standup', participant: 'bob' });
 */
export function sampleEvent(name: string, overrides: SampleOverrides = {}): LiveKitEvent | undefined {
  // Checking against the listing also keeps `name` from reaching outside the samples folder.
  if (!sampleEventNames().includes(name)) return undefined;
  const event = JSON.parse(readFileSync(join(SAMPLES_DIR, `${name}.json`), 'utf8')) as LiveKitEvent;
  event.id = overrides.id ?? `EV_${randomId(12)}`;
  // Every time in the sample moves with its createdAt, so the sample stays coherent: a participant_left sent now
  // left a participant who joined its ten minutes before, not on the day the sample was written.
  const now = overrides.now?.getTime() ?? Date.now();
  shiftTimes(event, BigInt(Math.floor(now / 1000)) - BigInt(event.createdAt ?? 0));
  // A room or participant named is a resource of its own, with a sid of its own: one start and one end each.
  if (overrides.room !== undefined) {
    if (event.room !== undefined) Object.assign(event.room, { name: overrides.room, sid: `RM_${digest(overrides.room)}` });
    replaceField(event, 'roomName', overrides.room);
  }
  if (overrides.participant !== undefined) {
    const sid = `PA_${digest(`${overrides.room ?? event.room?.name ?? ''}/${overrides.participant}`)}`;
    if (event.participant !== undefined) Object.assign(event.participant, { identity: overrides.participant, sid });
    replaceField(event, 'participantIdentity', overrides.participant);
  }
  return event;
}

/** A short stable id for a name. */
function digest(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 12);
}

/** LiveKit's times (int64 as strings) by field name, as nanoseconds per unit of each. */
const TIME_FIELDS: Record<string, bigint> = {
  createdAt: 1_000_000_000n,
  creationTime: 1_000_000_000n,
  joinedAt: 1_000_000_000n,
  creationTimeMs: 1_000_000n,
  joinedAtMs: 1_000_000n,
  startedAt: 1n,
  endedAt: 1n,
  updatedAt: 1n,
};

function shiftTimes(value: unknown, seconds: bigint): void {
  if (Array.isArray(value)) {
    for (const item of value) shiftTimes(item, seconds);
  } else if (isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const nsPerUnit = TIME_FIELDS[key];
      if (nsPerUnit !== undefined && typeof child === 'string' && /^\d+$/.test(child)) {
        value[key] = String(BigInt(child) + (seconds * 1_000_000_000n) / nsPerUnit);
      } else {
        shiftTimes(child, seconds);
      }
    }
  }
}

function replaceField(value: unknown, field: string, replacement: string): void {
  if (Array.isArray(value)) {
    for (const item of value) replaceField(item, field, replacement);
  } else if (isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (key === field && typeof child === 'string') value[key] = replacement;
      else replaceField(child, field, replacement);
    }
  }
}

function randomId(length: number): string {
  return Array.from({ length }, () => ID_ALPHABET[randomInt(ID_ALPHABET.length)]).join('');
}
