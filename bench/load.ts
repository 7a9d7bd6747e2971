/**
 * The two ways the benchmarks load a server: closed-loop at maximum throughput, and open-loop at a fixed rate, both
 * on the generator's own keep-alive client. Every request carries its own signed delivery; none is ever sent twice.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startMainThreadCpuMeter, startProcessCpuMeter, type CpuMeter } from './cpu-usage.ts';
import { encodePost, KeepAliveClient } from './keep-alive-client.ts';
import type { SignedDelivery } from './webhook-events.ts';

export interface LoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  seconds: number;
  /** 2xx responses per second. */
  eventsPerSecond: number;
  /** Milliseconds. */
  latency: { p50: number; p99: number; max: number };
  /**
   * Cores used during the run: is the server saturated, or the load generator the bottleneck? `serverMainThread`:
   * the server's event loop alone.
   */
  cores: { server: number; serverMainThread: number; generator: number };
  /** Fixed-rate runs: the longest the load generator itself was stalled (ms), which delays requests too. */
  generatorMaxStallMs?: number;
  /**
   * Fixed-rate runs: the 99th percentile of how long after its due time each request was sent (ms): the part of
   * the latency that is the load generator's own.
   */
  sendLatenessP99Ms?: number;
  /** Fixed-rate runs: when the first request was due, in ms since the epoch (comparable across processes). */
  startedAt?: number;
}

/** Where to send the load, and which process serves it. */
interface Target {
  url: string;
  serverPid: number;
}

function startCpuMeters(serverPid: number): { read(): LoadResult['cores'] } {
  const server: CpuMeter = startProcessCpuMeter([serverPid]);
  const serverMainThread: CpuMeter = startMainThreadCpuMeter(serverPid);
  const generator: CpuMeter = startProcessCpuMeter([process.pid]);
  return { read: () => ({ server: server.read(), serverMainThread: serverMainThread.read(), generator: generator.read() }) };
}

/** Sees every response body, e.g. to check that no delivery was taken for a duplicate. */
export type ResponseInspector = (status: number, body: string) => void;

export interface MaxThroughputRun extends Target {
  connections: number;
  /** Seconds. */
  duration: number;
  deliveries: readonly SignedDelivery[];
  inspect?: ResponseInspector;
}

/**
 * Closed loop: `connections` requests in flight, each answer followed at once by the next delivery, on the same
 * client as the fixed-rate runs (one connection per request in flight). Fails when the deliveries run out before
 * the time does, rather than repeat one.
 */
export async function runAtMaxThroughput(run: MaxThroughputRun): Promise<LoadResult> {
  const url = new URL(run.url);
  const client = new KeepAliveClient(url);
  const latencies: number[] = [];
  let next = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const cpu = startCpuMeters(run.serverPid);
  const start = performance.now();
  const end = start + run.duration * 1000;
  let lastAnswer = start;
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
      client.send(encodePost(url, headersFor(delivery), delivery.body), (error, status, body) => {
        lastAnswer = performance.now();
        if (error !== null) errors++;
        else if (status >= 200 && status < 300) {
          ok++;
          latencies.push(lastAnswer - sentAt);
        } else non2xx++;
        if (error === null) run.inspect?.(status, body);
        sendNext();
      });
    };
    for (let i = 0; i < run.connections; i++) sendNext();
  });
  const cores = cpu.read();
  client.destroy();
  if (next === run.deliveries.length && lastAnswer < end) {
    throw new Error(`the ${run.deliveries.length} pre-signed deliveries ran out before the run ended; nothing may be sent twice, so this run is void`);
  }
  const seconds = (lastAnswer - start) / 1000;
  return { sent: next, ok, non2xx, errors, seconds, eventsPerSecond: ok / seconds, latency: percentiles(latencies), cores };
}

export interface FixedRateRun extends Target {
  /** Requests per second. */
  rate: number;
  duration: number;
  /** At least rate × duration of them. */
  deliveries: readonly SignedDelivery[];
  inspect?: ResponseInspector;
  /**
   * Connections to send on and keep open after the run, so that the next run (after a warm-up, say) does not start
   * by opening new ones; the caller destroys it. By default the run opens its own and closes them at the end.
   */
  client?: KeepAliveClient;
}

const DRAIN_TIMEOUT_MS = 15_000;

/**
 * Open loop: delivery k is due at start + k / rate, whatever happened to the ones before, as LiveKit sends them.
 * (A per-connection rate limit would send each connection's share of a second back to back, then pause: bursts
 * at full load rather than a steady rate.) Latency counts from the due time, so a
 * stalled server (or load generator) shows up in it instead of silently lowering the rate.
 */
export async function runAtFixedRate(run: FixedRateRun): Promise<LoadResult> {
  const total = Math.round(run.rate * run.duration);
  if (run.deliveries.length < total) throw new Error(`a fixed-rate run of ${total} requests needs as many deliveries`);
  const url = new URL(run.url);
  // Encoded before the clock starts: during the run, sending a request is one write.
  const requests = run.deliveries.slice(0, total).map((delivery) => encodePost(url, headersFor(delivery), delivery.body));
  const client = run.client ?? new KeepAliveClient(url);
  const interval = 1000 / run.rate;
  const latencies: number[] = [];
  const lateness: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let answered = 0;
  let issued = 0;
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const cpu = startCpuMeters(run.serverPid);
  const start = performance.now();

  await new Promise<void>((resolve) => {
    const settle = () => {
      if (++answered === total) resolve();
    };
    const send = (k: number) => {
      const due = start + k * interval;
      lateness.push(performance.now() - due);
      client.send(requests[k], (error, status, body) => {
        if (error !== null) {
          errors++;
        } else if (status >= 200 && status < 300) {
          ok++;
          latencies.push(performance.now() - due);
        } else {
          non2xx++;
        }
        if (error === null) run.inspect?.(status, body);
        settle();
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
  const cores = cpu.read();
  stalls.disable();
  if (run.client === undefined) client.destroy();
  const unanswered = total - answered;
  return {
    sent: issued,
    ok,
    non2xx,
    errors: errors + unanswered,
    seconds,
    eventsPerSecond: ok / seconds,
    latency: percentiles(latencies),
    cores,
    generatorMaxStallMs: stalls.max / 1e6,
    sendLatenessP99Ms: percentiles(lateness).p99,
    startedAt: performance.timeOrigin + start,
  };
}

function headersFor(delivery: SignedDelivery): Record<string, string> {
  return { 'content-type': 'application/webhook+json', authorization: delivery.authorization };
}

/** Nearest-rank percentiles of `values` (NaN when empty). */
export function percentiles(values: number[]): LoadResult['latency'] {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}
