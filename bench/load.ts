/** Loading a server: closed loop at maximum throughput, or open loop at a fixed rate. Nothing is sent twice. */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startMainThreadCpuMeter, startProcessCpuMeter } from './cpu-usage.ts';
import { encodePost, KeepAliveClient, type AnswerHandler } from './keep-alive-client.ts';
import type { Credentials, ServerProcess } from './setup.ts';
import { signBeforeRun, type EventSource, type SignedDelivery } from './webhook-events.ts';

export interface LoadResult {
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** 2xx answers per second. */
  eventsPerSecond: number;
  latency: { p50: number; p99: number; max: number };
  /** Is a server saturated (`serverMainThread`: the busiest one's event loop alone), or the load generator? */
  cores: { server: number; serverMainThread: number; generator: number };
  /** Fixed rate: the longest the load generator itself was stalled (ms), which delays requests too. */
  generatorMaxStallMs?: number;
  /** Fixed rate: p99 of how late each request was sent after its due time (ms), the generator's share of latency. */
  sendLatenessP99Ms?: number;
  /** Fixed rate: when the first request was due, in ms since the epoch (comparable across processes). */
  startedAt?: number;
}

/** Sees every answer's body, e.g. to check that no delivery was taken for a duplicate. */
type ResponseInspector = (status: number, body: string) => void;
type Target = Pick<ServerProcess, 'url' | 'pid'>;
type Run = { deliveries: readonly SignedDelivery[]; inspect?: ResponseInspector };

const HEADERS = (delivery: SignedDelivery) => ({ 'content-type': 'application/webhook+json', authorization: delivery.authorization });
const DRAIN_TIMEOUT_MS = 15_000;

/**
 * Closed loop: `connections` requests in flight, each answer followed at once by the next delivery, for `duration`
 * seconds, or without one until the deliveries run out. A timed run fails when they run out first, rather than
 * repeat one.
 */
export async function runAtMaxThroughput(run: Run & { server: Target; connections: number; duration?: number }) {
  const url = new URL(run.server.url);
  const client = new KeepAliveClient(url);
  const tally = startTally([run.server], run.inspect);
  const end = tally.start + (run.duration ?? Infinity) * 1000;
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
      const answer = tally.answer(performance.now());
      client.send(encodePost(url, HEADERS(delivery), delivery.body), (error, status, body) => {
        lastAnswer = performance.now();
        answer(error, status, body);
        sendNext();
      });
    };
    for (let i = 0; i < run.connections; i++) sendNext();
  });
  const cores = tally.cores();
  client.destroy();
  if (run.duration !== undefined && next === run.deliveries.length && lastAnswer < end) {
    throw new Error(`the ${run.deliveries.length} pre-signed deliveries ran out before the run ended; nothing may be sent twice, so this run is void`);
  }
  return tally.result((lastAnswer - tally.start) / 1000, cores);
}

/**
 * Open loop, as LiveKit sends: delivery k is due at start + k / rate, whatever happened to the ones before (a
 * per-connection rate limit would send bursts, then pause), and goes to server k mod n. Latency counts from the due
 * time, so a stalled server or load generator shows up in it instead of silently lowering the rate. `clients`, one
 * per server: connections to keep open for the next run (the caller destroys them); by default the run opens its own.
 */
export async function runAtFixedRate(run: Run & { servers: readonly Target[]; rate: number; clients?: KeepAliveClient[] }): Promise<LoadResult> {
  const urls = run.servers.map((server) => new URL(server.url));
  // Encoded before the clock starts: during the run, sending a request is one write.
  const requests = run.deliveries.map((delivery, k) => encodePost(urls[k % urls.length], HEADERS(delivery), delivery.body));
  const clients = run.clients ?? urls.map((url) => new KeepAliveClient(url));
  const total = requests.length;
  const interval = 1000 / run.rate;
  const lateness: number[] = [];
  let answered = 0;
  let issued = 0;
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const tally = startTally(run.servers, run.inspect);
  const { start } = tally;
  await new Promise<void>((resolve) => {
    const send = (k: number) => {
      const due = start + k * interval;
      lateness.push(performance.now() - due);
      const answer = tally.answer(due);
      clients[k % clients.length].send(requests[k], (error, status, body) => {
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
  if (run.clients === undefined) for (const client of clients) client.destroy();
  tally.unanswered(total - answered);
  return {
    ...tally.result(seconds, cores),
    generatorMaxStallMs: stalls.max / 1e6,
    sendLatenessP99Ms: percentiles(lateness).p99,
    startedAt: performance.timeOrigin + start,
  };
}

/** Fixed-rate runs on `server` one after another, over the same connections, each signed just before it. */
export function fixedRateRuns(server: ServerProcess, rate: number, source: EventSource, credentials: Credentials) {
  const clients = [new KeepAliveClient(new URL(server.url))];
  return {
    run: async (seconds: number) =>
      runAtFixedRate({ servers: [server], rate, clients, deliveries: await signBeforeRun(source, Math.round(rate * seconds), credentials) }),
    close: () => clients[0].destroy(),
  };
}

/**
 * Checks that each 2xx answer shows the path measured, a new event whose every action ended `expected`, and when
 * each was acknowledged (wall-clock ms).
 */
export function checkAnswers(expected: 'succeeded' | 'queued') {
  const ackedAt: number[] = [];
  let unexpected = 0;
  let first: string | undefined;
  return {
    ackedAt,
    inspect(status: number, body: string) {
      if (status < 200 || status >= 300) return;
      const { results } = JSON.parse(body) as { results: { duplicate: boolean; actions: Array<{ status: string }> } };
      if (!results.duplicate && results.actions.length > 0 && results.actions.every((action) => action.status === expected)) {
        ackedAt.push(performance.timeOrigin + performance.now());
      } else {
        unexpected++;
        first ??= body;
      }
    },
    problems: () => (unexpected === 0 ? [] : [`${unexpected} answers were not of a new event whose every action ${expected}, the first: ${first}`]),
  };
}

/** What makes a run void: answers other than 2xx, and requests never answered. */
export function loadProblems(result: LoadResult, run: string): string[] {
  return [
    ...(result.non2xx > 0 ? [`${result.non2xx} non-2xx answers in the ${run}`] : []),
    ...(result.errors > 0 ? [`${result.errors} connection errors or timeouts in the ${run}`] : []),
  ];
}

/** A run's answers and CPU, counted from now. */
function startTally(servers: readonly Target[], inspect?: ResponseInspector) {
  const server = startProcessCpuMeter(servers.map((target) => target.pid));
  const mainThreads = servers.map((target) => startMainThreadCpuMeter(target.pid));
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
      if (error === null) inspect?.(status, body);
    },
    unanswered: (count: number) => (errors += count),
    cores: () => ({ server: server.read(), serverMainThread: Math.max(...mainThreads.map((meter) => meter.read())), generator: generator.read() }),
    result: (seconds: number, cores: LoadResult['cores']): LoadResult => ({ ok, non2xx, errors, eventsPerSecond: ok / seconds, latency: percentiles(latencies), cores }),
  };
}

/** Nearest-rank percentiles of `values` (NaN when empty). */
export function percentiles(values: number[]): LoadResult['latency'] {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}
