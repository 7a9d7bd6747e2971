/**
 * A counting webhook receiver for the delivery benchmark, run in a child process of its own
 * (servers/counting-receiver.ts) so that answering deliveries never shares an event loop with the load generator.
 */
import { join } from 'node:path';
import { startServerProcess } from './server-process.ts';

export type ReceiverQuestion = { type: 'counts' } | { type: 'arrivals' };

export interface ReceiverCounts {
  /** Every request answered, duplicates included. */
  requests: number;
  /** Distinct event ids received. */
  unique: number;
  /** Requests whose body held no event id: the rule under test forwards something else. */
  unreadable: number;
}

export interface Arrivals {
  /** Event ids on their first arrival, in order… */
  ids: string[];
  /** …and when each arrived: wall-clock ms (`performance.timeOrigin + performance.now()`), comparable across processes. */
  at: number[];
}

export type ReceiverAnswer = ReceiverCounts | Arrivals;

export interface CountingReceiver {
  /** Where Switchboard should forward to. */
  url: string;
  pid: number;
  counts(): Promise<ReceiverCounts>;
  /** The first arrivals since the previous call (or the start). */
  takeArrivals(): Promise<Arrivals>;
  stop(): Promise<void>;
}

export async function startCountingReceiver(): Promise<CountingReceiver> {
  const child = await startServerProcess(join(import.meta.dirname, 'servers/counting-receiver.ts'), { env: {} });
  // The IPC channel carries one question at a time: each waits for the answer before it.
  let last: Promise<unknown> = Promise.resolve();
  const ask = <Answer extends ReceiverAnswer>(question: ReceiverQuestion): Promise<Answer> => {
    const answer = last.then(
      () => child.ask<Answer>(question),
      () => child.ask<Answer>(question),
    );
    last = answer;
    return answer;
  };
  return {
    url: child.url,
    pid: child.pid,
    counts: () => ask<ReceiverCounts>({ type: 'counts' }),
    takeArrivals: () => ask<Arrivals>({ type: 'arrivals' }),
    stop: () => child.stop(),
  };
}
