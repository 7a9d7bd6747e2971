import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE, delayBefore, retryDelay, retrySchedule } from '../../../src/engine/delivery/retry-schedule.ts';

const noJitter = () => 0.5;

describe('retry schedule', () => {
  it("defaults to Standard Webhooks' ten attempts: 0, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h", () => {
    expect(retrySchedule(undefined)).toEqual({
      maxAttempts: 10,
      delays: [0, 5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 504e5, 72e6, 864e5],
    });
    expect(DEFAULT_RETRY_SCHEDULE).toHaveLength(10);
  });

  it('repeats the last delay of a schedule shorter than the attempts, and cuts a longer one', () => {
    expect(retrySchedule({ attempts: 5, schedule: [0, 1000, 2000] }).delays).toEqual([0, 1000, 2000, 2000, 2000]);
    expect(retrySchedule({ attempts: 2, schedule: [0, 1000, 2000] }).delays).toEqual([0, 1000]);
  });

  it('takes the default delays for attempts alone, cut to fewer attempts or its last delay repeated for more', () => {
    expect(retrySchedule({ attempts: 3 })).toEqual({ maxAttempts: 3, delays: [0, 5e3, 3e5] });
    expect(retrySchedule({ attempts: 12 }).delays).toEqual([...DEFAULT_RETRY_SCHEDULE, 864e5, 864e5]);
  });

  it('doubles exponential backoff from initial up to max', () => {
    expect(retrySchedule({ attempts: 6, backoff: 'exponential', initialMs: 1000, maxMs: 5000 }).delays).toEqual([
      0, 1000, 2000, 4000, 5000, 5000,
    ]);
  });

  it('spreads each delay by at most 20% either way', () => {
    const delays = [0, 10_000];
    expect(delayBefore(delays, 2, () => 0)).toBe(8000);
    expect(delayBefore(delays, 2, () => 0.999_999)).toBe(12_000);
    expect(delayBefore(delays, 2, noJitter)).toBe(10_000);
    expect(delayBefore(delays, 1, () => 0.9)).toBe(0);
  });

  it('honours Retry-After within the bounds of the schedule', () => {
    const delays = [0, 1000, 60_000];
    expect(retryDelay({ delays, nextAttempt: 2, retryAfterMs: 30_000 })).toBe(30_000);
    expect(retryDelay({ delays, nextAttempt: 2, retryAfterMs: 10 })).toBe(1000);
    expect(retryDelay({ delays, nextAttempt: 2, retryAfterMs: 86_400_000 })).toBe(60_000);
    expect(retryDelay({ delays, nextAttempt: 3, random: noJitter })).toBe(60_000);
  });
});
