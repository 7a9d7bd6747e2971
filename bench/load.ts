/**
 * The two ways the benchmarks load a server, both on the generator's own keep-alive client: closed loop at maximum
 * throughput, and open loop at a fixed rate. Every request carries its own signed delivery; none is sent twice.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startMainThreadCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { encodePost, KeepAliveClient, type AnswerHandler } from './keep-alive-client.ts';
import type { ServerProcess, Credentials } from './server-process.ts';
import { signBeforeRun, type EventSource, type SignedDelivery } from './webhook-events.ts';

export interface LoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  seconds: number;
  /** 2xx responses per second. */
  eventsPerSecond: number;
  latency: { p50: number; p99: number; max: number };
  /** Is the server saturated (`serverMainThread`: its event loop alone), or the load generator the bottleneck? */
  cores: { server: number; serverMainThread: number; generator: number };
  /** Fixed rate: the longest the load generator itself was stalled (ms), which delays requests too. */
  generatorMaxStallMs?: number;
  /** Fixed rate: p99 of how late each request was sent after its due time (ms), the generator's share of latency. */
  sendLatenessP99Ms?: number;
  /** Fixed rate: when the first request was due, in ms since the epoch (comparable across processes). */
  startedAt?: number;
}

/** Sees every response body, e.g. to check that no delivery was taken for a duplicate. */
export type ResponseInspector = (status: number, body: string) => void;

interface Run {
  url: string;
  /** The process serving `url`, whose CPU is measured. */
  serverPid: number;
  duration: number;
  deliveries: readonly SignedDelivery[];
  inspect?: ResponseInspector;
}

const HEADERS = (delivery: SignedDelivery) => ({ 'content-type': 'application/webhook+json', authorization: delivery.authorization });
const DRAIN_TIMEOUT_MS = 15_000;

/**
 * Closed loop: `connections` requests in flight, each answer followed at once by the next delivery. Fails when the
 * deliveries run out before the time does, rather than repeat one.
 */
export async function runAtMaxThroughput(run: Run & { connections: number }): Promise<LoadResult> {
  const url = new URL(run.url);
  const client = new KeepAliveClient(url);
  const tally = startTally(run);
  const end = tally.start + run.duration * 1000;
  let next = 0;
  let lastAnswer = tally.start;
  await new Promise<void>((resolve) => {
    let inFlight = run.connections;
    const sendNext = () => {
      const delivery = run.deliveries[next];
      if (performance.now() >= end || delivery === undefined) {
        if (--inFlight === 0) resolve();
        return;
      }
      next++;
      const sentAt = performance.now();
      client.send(encodePost(url, HEADERS(delivery), delivery.body), (error, status, body) => {
        lastAnswer = performance.now();
        tally.answer(sentAt)(error, status, body);
        sendNext();
      });
    };
    for (let i = 0; i < run.connections; i++) sendNext();
  });
  const cores = tally.cores();
  client.destroy();
  if (next === run.deliveries.length && lastAnswer < end) {
    throw new Error(`the ${run.deliveries.length} pre-signed deliveries ran out before the run ended; nothing may be sent twice, so this run is void`);
  }
  return tally.result(next, (lastAnswer - tally.start) / 1000, cores);
}

/**
 * Open loop, as LiveKit sends: delivery k is due at start + k / rate, whatever happened to the ones before (a
 * per-connection rate limit would send bursts, then pause). Latency counts from the due time, so a stalled server
 * or load generator shows up in it instead of silently lowering the rate. `client`: connections to keep open for
 * the next run (the caller destroys it); by default the run opens its own.
 */
export async function runAtFixedRate(run: Run & { rate: number; client?: KeepAliveClient }): Promise<LoadResult> {
  const total = Math.round(run.rate * run.duration);
  if (run.deliveries.length < total) throw new Error(`a fixed-rate run of ${total} requests needs as many deliveries`);
  const url = new URL(run.url);
  // Encoded before the clock starts: during the run, sending a request is one write.
  const requests = run.deliveries.slice(0, total).map((delivery) => encodePost(url, HEADERS(delivery), delivery.body));
  const client = run.client ?? new KeepAliveClient(url);
  const interval = 1000 / run.rate;
  const lateness: number[] = [];
  let answered = 0;
  let issued = 0;
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const tally = startTally(run);
  const { start } = tally;
  await new Promise<void>((resolve) => {
    const send = (k: number) => {
      const due = start + k * interval;
      lateness.push(performance.now() - due);
      const answer = tally.answer(due);
      client.send(requests[k], (error, status, body) => {
        answer(error, status, body);
        if (++answered === total) resolve();
      });
    };
    const tick = () => {
      const now = performance.now();
      while (issued < total && start + issued * interval <= now) send(issued++);
      if (issued < total) setTimeout(tick, Math.max(0, start + issued * interval - performance.now()));
      else setTimeout(resolve, DRAIN_TIMEOUT_MS).unref();
    };
    tick();
  });
  const seconds = (performance.now() - start) / 1000;
  const cores = tally.cores();
  stalls.disable();
  if (run.client === undefined) client.destroy();
  tally.unanswered(total - answered);
  return {
    ...tally.result(issued, seconds, cores),
    generatorMaxStallMs: stalls.max / 1e6,
    sendLatenessP99Ms: percentiles(lateness).p99,
    startedAt: performance.timeOrigin + start,
  };
}

/** Fixed-rate runs on `server` one after another, over the same connections, each signed just before it. */
export function fixedRateRuns(server: ServerProcess, rate: number, source: EventSource, credentials: Credentials) {
  const client = new KeepAliveClient(new URL(server.url));
  return {
    run: async (duration: number) =>
      runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration, client, deliveries: await signBeforeRun(source, Math.round(rate * duration), credentials) }),
    close: () => client.destroy(),
  };
}

/** A run's answers and CPU, counted from now. */
function startTally(run: Run) {
  const server = startProcessCpuMeter([run.serverPid]);
  const serverMainThread = startMainThreadCpuMeter(run.serverPid);
  const generator = startProcessCpuMeter([process.pid]);
  const latencies: number[] = [];
  let [ok, non2xx, errors] = [0, 0, 0];
  return {
    start: performance.now(),
    /** The handler of one request's answer; its latency counts from `since`. */
    answer: (since: number): AnswerHandler => (error, status, body) => {
      if (error !== null) errors++;
      else if (status >= 200 && status < 300) {
        ok++;
        latencies.push(performance.now() - since);
      } else non2xx++;
      if (error === null) run.inspect?.(status, body);
    },
    unanswered: (count: number) => (errors += count),
    cores: () => ({ server: server.read(), serverMainThread: serverMainThread.read(), generator: generator.read() }),
    result: (sent: number, seconds: number, cores: LoadResult['cores']): LoadResult => ({
      sent, ok, non2xx, errors, seconds, eventsPerSecond: ok / seconds, latency: percentiles(latencies), cores,
    }),
  };
}

/** Nearest-rank percentiles of `values` (NaN when empty). */
export function percentiles(values: number[]): LoadResult['latency'] {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}
