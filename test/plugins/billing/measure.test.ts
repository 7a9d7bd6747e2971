import { describe, expect, it } from 'vitest';
import { durationQuantity, eventTime, givenQuantity, measuredDuration, type Measure } from '../../../plugins/billing/measure.ts';
import { PermanentError } from '../../../src/plugins/contract.ts';

const MS = 1_000_000n;
const S = 1_000n * MS;

const participantLeft = (participant: Record<string, unknown>, createdAt: unknown = '1763856605') => ({
  event: 'participant_left',
  createdAt,
  participant: { identity: 'alice', ...participant },
});
const roomFinished = (room: Record<string, unknown>, createdAt: unknown = '1763856900') => ({ event: 'room_finished', createdAt, room });
const egressEnded = (egressInfo: Record<string, unknown>) => ({ event: 'egress_ended', createdAt: '1763856611', egressInfo });
const ingressEnded = (state: Record<string, unknown> | undefined) => ({
  event: 'ingress_ended',
  createdAt: '1763856700',
  ingressInfo: state === undefined ? { ingressId: 'IN_1' } : { ingressId: 'IN_1', state },
});

function measureFailure(measure: Measure, event: Record<string, unknown>): PermanentError {
  try {
    measuredDuration(measure, event);
  } catch (error) {
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'E_BILLING_MEASURE' });
    return error as PermanentError;
  }
  expect.fail(`expected ${measure} to refuse the event`);
}

describe('participant_minutes', () => {
  it('runs from joinedAtMs to the event’s createdAt', () => {
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAt: '1763856005', joinedAtMs: '1763856005210' }))).toBe(599_790n * MS);
  });

  it('uses joinedAt seconds when joinedAtMs is absent or zero', () => {
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAt: '1763856005' }))).toBe(600n * S);
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAt: '1763856005', joinedAtMs: '0' }))).toBe(600n * S);
  });

  it('measures participant_connection_aborted the same way', () => {
    const event = { ...participantLeft({ joinedAtMs: '1763856005210' }, '1763856007'), event: 'participant_connection_aborted' };
    expect(measuredDuration('participant_minutes', event)).toBe(1_790n * MS);
  });

  it('accepts int64 values written as JSON numbers', () => {
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAtMs: 1763856005210 }, 1763856605))).toBe(599_790n * MS);
  });

  it('measures 0 for a join in the very second the event was created, since createdAt has whole seconds only', () => {
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAtMs: '1763856605999' }))).toBe(0n);
    expect(measuredDuration('participant_minutes', participantLeft({ joinedAt: '1763856605' }))).toBe(0n);
  });

  it('refuses a join after the second the event was created', () => {
    expect(measureFailure('participant_minutes', participantLeft({ joinedAtMs: '1763856606000' })).message).toMatch(
      /starts at 2025-11-23T00:10:06.000Z, after the event's createdAt 2025-11-23T00:10:05.000Z/,
    );
    expect(measureFailure('participant_minutes', participantLeft({ joinedAt: '1763856606' })).message).toMatch(/after the event's createdAt/);
  });

  it('refuses a participant without a join time', () => {
    expect(measureFailure('participant_minutes', participantLeft({})).message).toBe('the event has no participant.joinedAt');
    expect(measureFailure('participant_minutes', { event: 'participant_left', createdAt: '1763856605' }).message).toBe(
      'the event has no participant.joinedAt',
    );
    expect(measureFailure('participant_minutes', participantLeft({ joinedAt: '0' })).message).toBe('the event has no participant.joinedAt');
    expect(measureFailure('participant_minutes', participantLeft({ joinedAt: null, joinedAtMs: null })).message).toBe(
      'the event has no participant.joinedAt',
    );
  });

  it.each([
    ['joinedAtMs', { joinedAtMs: '17638560052.10' }, 'participant.joinedAtMs is "17638560052.10", not a whole number'],
    ['joinedAtMs', { joinedAtMs: 'soon' }, 'participant.joinedAtMs is "soon", not a whole number'],
    ['joinedAt', { joinedAt: -5 }, 'participant.joinedAt is -5, not a whole number'],
    ['joinedAt', { joinedAt: 1.5 }, 'participant.joinedAt is 1.5, not a whole number'],
  ])('refuses a %s that is not a whole number', (_field, participant, message) => {
    expect(measureFailure('participant_minutes', participantLeft(participant)).message).toBe(message);
  });

  it('refuses an event without createdAt, or with one that is not a number', () => {
    const { createdAt: _, ...undated } = participantLeft({ joinedAt: '1763856005' });
    expect(measureFailure('participant_minutes', undated).message).toBe('the event has no createdAt');
    expect(measureFailure('participant_minutes', participantLeft({ joinedAt: '1763856005' }, 'yesterday')).message).toMatch(/createdAt is "yesterday"/);
  });

  it('refuses events it does not measure', () => {
    const joined = { ...participantLeft({ joinedAt: '1763856005' }), event: 'participant_joined' };
    expect(measureFailure('participant_minutes', joined).message).toBe(
      'participant_minutes measures participant_left or participant_connection_aborted events, not participant_joined',
    );
  });
});

describe('room_minutes', () => {
  it('runs from creationTimeMs to the room_finished event’s createdAt', () => {
    expect(measuredDuration('room_minutes', roomFinished({ creationTime: '1763856000', creationTimeMs: '1763856000123' }))).toBe(899_877n * MS);
  });

  it('uses creationTime seconds when creationTimeMs is absent', () => {
    expect(measuredDuration('room_minutes', roomFinished({ creationTime: '1763856000' }))).toBe(900n * S);
  });

  it('refuses a room without a creation time, or created after it finished', () => {
    expect(measureFailure('room_minutes', roomFinished({ name: 'session-42' })).message).toBe('the event has no room.creationTime');
    expect(measureFailure('room_minutes', roomFinished({ creationTimeMs: '1763857000000' })).message).toMatch(/after the event's createdAt/);
  });

  it('refuses other events', () => {
    expect(measureFailure('room_minutes', { ...roomFinished({ creationTime: '1' }), event: 'room_started' }).message).toMatch(/not room_started/);
  });
});

describe('egress_minutes', () => {
  it('is endedAt − startedAt, in nanoseconds', () => {
    expect(measuredDuration('egress_minutes', egressEnded({ startedAt: '1763856010000000000', endedAt: '1763856610000000000' }))).toBe(600n * S);
  });

  it('keeps every nanosecond of times beyond 2^53', () => {
    const duration = measuredDuration('egress_minutes', egressEnded({ startedAt: '1763856010000000001', endedAt: '1763856070000000000' }));
    expect(duration).toBe(60n * S - 1n);
    // In floating point both times round to the same multiple of 256 ns and the minute would look whole.
    expect(durationQuantity(duration, 'seconds', 'down')).toBe(59);
    expect(durationQuantity(duration, 'minutes', 'down')).toBe(0);
  });

  it('measures 0 for an egress that ended as it started', () => {
    expect(measuredDuration('egress_minutes', egressEnded({ startedAt: '1763856010000000000', endedAt: '1763856010000000000' }))).toBe(0n);
  });

  it('refuses an end before the start', () => {
    expect(measureFailure('egress_minutes', egressEnded({ startedAt: '1763856610000000000', endedAt: '1763856010000000000' })).message).toBe(
      'egress_minutes: egressInfo.endedAt 2025-11-23T00:00:10.000Z is before egressInfo.startedAt 2025-11-23T00:10:10.000Z',
    );
  });

  it('refuses an egress that never started or never ended', () => {
    expect(measureFailure('egress_minutes', egressEnded({ endedAt: '1763856610000000000' })).message).toBe('the event has no egressInfo.startedAt');
    expect(measureFailure('egress_minutes', egressEnded({ startedAt: '1763856010000000000', endedAt: '0' })).message).toBe(
      'the event has no egressInfo.endedAt',
    );
    expect(measureFailure('egress_minutes', { event: 'egress_ended', createdAt: '1' }).message).toBe('the event has no egressInfo.startedAt');
  });
});

describe('ingress_minutes', () => {
  it('is ingressInfo.state.endedAt − startedAt, in nanoseconds', () => {
    expect(measuredDuration('ingress_minutes', ingressEnded({ startedAt: '1763856020000000000', endedAt: '1763856700000000000' }))).toBe(680n * S);
  });

  it('refuses an ingress without a state or its times', () => {
    expect(measureFailure('ingress_minutes', ingressEnded(undefined)).message).toBe('the event has no ingressInfo.state.startedAt');
    expect(measureFailure('ingress_minutes', ingressEnded({ startedAt: '1763856020000000000' })).message).toBe(
      'the event has no ingressInfo.state.endedAt',
    );
  });
});

describe('durationQuantity', () => {
  it.each([
    // duration, unit, up, nearest, down
    [0n, 'minutes', 0, 0, 0],
    [1n, 'minutes', 1, 0, 0],
    [30n * S - 1n, 'minutes', 1, 0, 0],
    [30n * S, 'minutes', 1, 1, 0],
    [60n * S, 'minutes', 1, 1, 1],
    [60n * S + 1n, 'minutes', 2, 1, 1],
    [599_790n * MS, 'minutes', 10, 10, 9],
    [599_790n * MS, 'seconds', 600, 600, 599],
    [499n * MS, 'seconds', 1, 0, 0],
    [500n * MS, 'seconds', 1, 1, 0],
    [86_400n * S, 'minutes', 1440, 1440, 1440],
  ] as const)('%s ns in %s: up %s, nearest %s, down %s', (duration, unit, up, nearest, down) => {
    expect(durationQuantity(duration, unit, 'up')).toBe(up);
    expect(durationQuantity(duration, unit, 'nearest')).toBe(nearest);
    expect(durationQuantity(duration, unit, 'down')).toBe(down);
  });

  it('refuses a quantity beyond what a number holds exactly', () => {
    expect(() => durationQuantity(BigInt(Number.MAX_SAFE_INTEGER) * S + S, 'seconds', 'down')).toThrow(/too large/);
  });
});

describe('givenQuantity', () => {
  it.each([
    [2.4, 3, 2, 2],
    [2.5, 3, 3, 2],
    [3, 3, 3, 3],
    [0, 0, 0, 0],
    [0.1, 1, 0, 0],
  ])('rounds %s: up %s, nearest %s, down %s', (value, up, nearest, down) => {
    expect(givenQuantity(value, 'up')).toBe(up);
    expect(givenQuantity(value, 'nearest')).toBe(nearest);
    expect(givenQuantity(value, 'down')).toBe(down);
  });

  it('takes an int64 string as LiveKit writes them', () => {
    expect(givenQuantity('41943040', 'up')).toBe(41_943_040);
  });

  it.each([
    [undefined, /rendered nothing/],
    [null, /rendered nothing/],
    [-1, /at least 0, not -1/],
    [Number.NaN, /must be a number, not null/],
    [Number.POSITIVE_INFINITY, /must be a number/],
    [true, /must be a number, not true/],
    [{ minutes: 3 }, /must be a number/],
    ['1.5', /"1.5" is not a whole number/],
    ['ten', /"ten" is not a whole number/],
    [2 ** 60, /too large/],
    ['90071992547409930', /too large/],
  ])('refuses %s', (value, message) => {
    expect(() => givenQuantity(value, 'up')).toThrow(message);
    expect(() => givenQuantity(value, 'up')).toThrow(expect.objectContaining({ code: 'E_BILLING_QUANTITY' }));
  });
});

describe('eventTime', () => {
  it('is the event’s createdAt', () => {
    expect(eventTime({ event: 'room_finished', createdAt: '1763856900' })).toEqual(new Date('2025-11-23T00:15:00.000Z'));
  });

  it('refuses an event without one', () => {
    expect(() => eventTime({ event: 'room_finished' })).toThrow('the event has no createdAt');
  });
});
