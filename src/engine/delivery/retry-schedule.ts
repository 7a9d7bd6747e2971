/** When an async action is tried again: the schedule of delays, jitter, and how a target's Retry-After is honoured. */
import type { RetryPolicy } from '../../rules/types.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Standard Webhooks' recommended schedule: delays before attempts 1 … 10. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [
  0,
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
];

/** Each delay is spread by up to this fraction either way, so failures of many deliveries do not retry in step. */
const JITTER = 0.2;

interface RetrySchedule {
  maxAttempts: number;
  /** Delays before attempt 1, 2, …, one per attempt. */
  delays: number[];
}

export function retrySchedule(policy: RetryPolicy | undefined): RetrySchedule {
  if (!policy) return { maxAttempts: DEFAULT_RETRY_SCHEDULE.length, delays: [...DEFAULT_RETRY_SCHEDULE] };
  const delays: number[] = [];
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if ('backoff' in policy) {
      delays.push(attempt === 1 ? 0 : Math.min(policy.initialMs * 2 ** (attempt - 2), policy.maxMs));
    } else {
      const schedule = 'schedule' in policy ? policy.schedule : DEFAULT_RETRY_SCHEDULE;
      delays.push(schedule[Math.min(attempt, schedule.length) - 1]);
    }
  }
  return { maxAttempts: policy.attempts, delays };
}

/** The delay before `attempt` (1-based), with jitter; `random` returns [0, 1). */
export function delayBefore(delays: readonly number[], attempt: number, random: () => number = Math.random): number {
  const base = delays[Math.min(attempt, delays.length) - 1] ?? 0;
  return Math.round(base * (1 + JITTER * (2 * random() - 1)));
}

/**
 * The delay before the next attempt after a retryable failure. A target's Retry-After wins over the schedule, but
 * is kept within the schedule's bounds: never sooner than its shortest wait, never later than its longest.
 */
export function retryDelay(options: {
  delays: readonly number[];
  nextAttempt: number;
  retryAfterMs?: number;
  random?: () => number;
}): number {
  const { delays, nextAttempt, retryAfterMs } = options;
  if (retryAfterMs === undefined) return delayBefore(delays, nextAttempt, options.random);
  const waits = delays.filter((delay) => delay > 0);
  const shortest = waits.length > 0 ? Math.min(...waits) : 0;
  const longest = Math.max(0, ...delays);
  return Math.min(Math.max(retryAfterMs, shortest), longest);
}
