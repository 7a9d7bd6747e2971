/**
 * The delivery benchmarks' third-party endpoint, in a child process of its own (servers/counting-receiver.ts) so
 * that answering deliveries never shares an event loop with the load generator.
 */
import { join } from 'node:path';
import { startServerProcess } from './server-process.ts';

export type ReceiverQuestion = { type: 'counts' } | { type: 'arrivals' };

/** Requests answered, duplicates included; distinct event ids; bodies with no event id (something else forwarded). */
export type ReceiverCounts = { requests: number; unique: number; unreadable: number };
/** Event ids on their first arrival, in order, and when each arrived (wall-clock ms, comparable across processes). */
export type Arrivals = { ids: string[]; at: number[] };

export type ReceiverAnswer = ReceiverCounts | Arrivals;

export type CountingReceiver = Awaited<ReturnType<typeof startCountingReceiver>>;

export async function startCountingReceiver() {
  const child = await startServerProcess(join(import.meta.dirname, 'servers/counting-receiver.ts'), {});
  // The IPC channel carries one question at a time: each waits for the answer before it.
  let last: Promise<unknown> = Promise.resolve();
  const ask = <Answer extends ReceiverAnswer>(question: ReceiverQuestion): Promise<Answer> => {
    const answer = last.then(() => child.ask<Answer>(question), () => child.ask<Answer>(question));
    last = answer;
    return answer;
  };
  return {
    url: child.url,
    pid: child.pid,
    counts: () => ask<ReceiverCounts>({ type: 'counts' }),
    /** The first arrivals since the previous call (or the start). */
    takeArrivals: () => ask<Arrivals>({ type: 'arrivals' }),
    stop: () => child.stop(),
  };
}
