/**
 * What the billing plugin measures, from the event as LiveKit sends it (int64 values as strings: `createdAt`,
 * `joinedAt` and `creationTime` in seconds, `joinedAtMs` and `creationTimeMs` in milliseconds, egress and ingress
 * times in nanoseconds). Pure and exact: durations are whole nanoseconds in BigInt, rounded once into the unit.
 * Anything missing or inconsistent is a PermanentError saying what, never a zero.
 */
import { PermanentError } from 'livekit-switchboard/plugin';

export const MEASURES = ['participant_minutes', 'room_minutes', 'egress_minutes', 'ingress_minutes'] as const;
export type Measure = (typeof MEASURES)[number];

export const DURATION_UNITS = ['seconds', 'minutes'] as const;
type DurationUnit = (typeof DURATION_UNITS)[number];

export const ROUNDINGS = ['up', 'nearest', 'down'] as const;
export type Rounding = (typeof ROUNDINGS)[number];

/** The events each measure reads. */
const MEASURED_EVENTS: Record<Measure, readonly string[]> = {
  participant_minutes: ['participant_left', 'participant_connection_aborted'],
  room_minutes: ['room_finished'],
  egress_minutes: ['egress_ended'],
  ingress_minutes: ['ingress_ended'],
};

const NS_PER_MS = 1_000_000n;
const MS_PER_S = 1_000n;
const NS_PER_UNIT: Record<DurationUnit, bigint> = { seconds: 1_000_000_000n, minutes: 60_000_000_000n };
const WHOLE = /^\d+$/;

type Fields = Record<string, unknown>;

/**
 * How long the measured thing lasted, in nanoseconds.
 *
 * - `participant_minutes`: from `participant.joinedAtMs` (or `joinedAt` seconds) to the event's `createdAt`.
 * - `room_minutes`: from `room.creationTimeMs` (or `creationTime` seconds) to the event's `createdAt`.
 * - `egress_minutes`: `egressInfo.endedAt` − `egressInfo.startedAt`.
 * - `ingress_minutes`: `ingressInfo.state.endedAt` − `ingressInfo.state.startedAt`.
 *
 * `createdAt` has whole seconds only: the end is the start of that second. A start in milliseconds that falls inside
 * that same second therefore measures 0 (the true end lies somewhere in the second); a start after it is an error.
 */
export function measuredDuration(measure: Measure, event: Fields): bigint {
  const eventName = String(event.event);
  if (!MEASURED_EVENTS[measure].includes(eventName)) {
    throw measureError(`${measure} measures ${MEASURED_EVENTS[measure].join(' or ')} events, not ${eventName}`);
  }
  switch (measure) {
    case 'participant_minutes':
      return untilEventTime(measure, event, startMs(event, 'participant', 'joinedAt'));
    case 'room_minutes':
      return untilEventTime(measure, event, startMs(event, 'room', 'creationTime'));
    case 'egress_minutes':
      return between(measure, objectAt(event, 'egressInfo'), 'egressInfo');
    case 'ingress_minutes':
      return between(measure, objectAt(objectAt(event, 'ingressInfo'), 'state'), 'ingressInfo.state');
  }
}

/** A duration as a whole number of `unit`s, rounded as asked (`nearest` rounds a half up). */
export function durationQuantity(durationNs: bigint, unit: DurationUnit, round: Rounding): number {
  const size = NS_PER_UNIT[unit];
  const whole = durationNs / size;
  const rest = durationNs % size;
  const up = round === 'up' ? rest > 0n : round === 'nearest' ? rest * 2n >= size : false;
  return safeQuantity(whole + (up ? 1n : 0n));
}

/**
 * A quantity a rule computed (`quantity: { $logic: … }` or a template): a number of at least 0, or an int64 string
 * as LiveKit writes them, rounded to a whole number.
 */
export function givenQuantity(value: unknown, round: Rounding): number {
  if (value === undefined || value === null) throw quantityError('quantity rendered nothing: the event lacks what it reads');
  if (typeof value === 'string') {
    if (!WHOLE.test(value)) throw quantityError(`quantity "${value}" is not a whole number`);
    return safeQuantity(BigInt(value));
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw quantityError(`quantity must be a number, not ${JSON.stringify(value)}`);
  if (value < 0) throw quantityError(`quantity must be at least 0, not ${value}`);
  const rounded = round === 'up' ? Math.ceil(value) : round === 'down' ? Math.floor(value) : Math.floor(value + 0.5);
  if (!Number.isSafeInteger(rounded)) throw quantityError(`quantity ${value} is too large`);
  return rounded;
}

/** When the usage happened: the event's `createdAt`. */
export function eventTime(event: Fields): Date {
  return new Date(Number(required(event.createdAt, 'createdAt') * MS_PER_S));
}

/** Milliseconds since the epoch at which a participant joined or a room was created: `<field>Ms`, else `<field>` seconds. */
function startMs(event: Fields, owner: 'participant' | 'room', field: 'joinedAt' | 'creationTime'): bigint {
  const entity = objectAt(event, owner);
  const ms = entity[`${field}Ms`];
  if (!isUnset(ms)) return whole(ms, `${owner}.${field}Ms`);
  return required(entity[field], `${owner}.${field}`) * MS_PER_S;
}

function untilEventTime(measure: Measure, event: Fields, startMs: bigint): bigint {
  const endMs = required(event.createdAt, 'createdAt') * MS_PER_S;
  if (startMs >= endMs + MS_PER_S) {
    throw measureError(`${measure}: it starts at ${iso(startMs)}, after the event's createdAt ${iso(endMs)}`);
  }
  return startMs > endMs ? 0n : (endMs - startMs) * NS_PER_MS;
}

function between(measure: Measure, times: Fields, at: string): bigint {
  const started = required(times.startedAt, `${at}.startedAt`);
  const ended = required(times.endedAt, `${at}.endedAt`);
  if (ended < started) {
    throw measureError(`${measure}: ${at}.endedAt ${iso(ended / NS_PER_MS)} is before ${at}.startedAt ${iso(started / NS_PER_MS)}`);
  }
  return ended - started;
}

/** A time the measure needs, in the unit the event writes it in. */
function required(value: unknown, at: string): bigint {
  if (isUnset(value)) throw measureError(`the event has no ${at}`);
  return whole(value, at);
}

/** An int64 as LiveKit writes it (a string of digits), or a safe integer number. */
function whole(value: unknown, at: string): bigint {
  if (typeof value === 'string' && WHOLE.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw measureError(`${at} is ${JSON.stringify(value)}, not a whole number`);
}

/** protojson leaves zero int64 values out; a zero (or null) written anyway means the same: not set. */
function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === 0 || (typeof value === 'string' && /^0+$/.test(value));
}

function objectAt(value: Fields, key: string): Fields {
  const found = value[key];
  return typeof found === 'object' && found !== null && !Array.isArray(found) ? (found as Fields) : {};
}

function safeQuantity(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw quantityError(`quantity ${value} is too large`);
  return Number(value);
}

function iso(ms: bigint): string {
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
}

function measureError(message: string): PermanentError {
  return new PermanentError(message, { code: 'E_BILLING_MEASURE' });
}

function quantityError(message: string): PermanentError {
  return new PermanentError(message, { code: 'E_BILLING_QUANTITY' });
}
