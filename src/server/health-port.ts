/**
 * `/healthz` and `/readyz` on HEALTH_PORT, answered by a thread of their own. node:sqlite is synchronous: while a
 * write waits on a frozen or stuck filesystem (or on another process's lock), the main thread, and every endpoint on
 * PORT with it, stops answering. A liveness probe would then restart a process that a restart cannot help. This
 * thread keeps `/healthz` answering, and turns `/readyz` to 503 once the main thread has not turned for a while.
 *
 * The main thread stamps a heartbeat into shared memory; the thread reads it without waiting on the main thread,
 * and asks it for the readiness checks only while it is turning.
 */
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../telemetry/logger.ts';
import { checkReadiness, type ReadinessChecks } from './operations.ts';

/** How often the main thread stamps its heartbeat. */
const HEARTBEAT_MS = 100;
/** A main thread silent this long is stuck: `/readyz` answers 503 without asking it. */
export const STALLED_AFTER_MS = 2_000;

export interface HealthPortOptions {
  port: number;
  host: string;
  readiness: ReadinessChecks;
  log: Logger;
}

export interface HealthPort {
  /** `http://host:port`, without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

/** What the thread needs: where to listen, and the heartbeat's shared memory (one int64, ms since the epoch). */
export interface HealthThreadData {
  port: number;
  host: string;
  heartbeat: SharedArrayBuffer;
  stalledAfterMs: number;
}

/** Thread → main thread. */
export type HealthThreadMessage = { listening: AddressInfo } | { failed: string } | { ask: number };
/** Main thread → thread: the answer to `ask`. */
export interface ReadinessAnswer {
  answer: number;
  readiness: Awaited<ReturnType<typeof checkReadiness>>;
}

export async function startHealthPort(options: HealthPortOptions): Promise<HealthPort> {
  const heartbeat = new SharedArrayBuffer(8);
  const beat = new BigInt64Array(heartbeat);
  let last = Date.now();
  Atomics.store(beat, 0, BigInt(last));
  const stamp = setInterval(() => {
    const now = Date.now();
    // The thread kept answering meanwhile; this line says afterwards why readiness went away.
    if (now - last >= STALLED_AFTER_MS) options.log.warn({ stalled_ms: now - last }, 'the main thread was blocked (the health port said not ready meanwhile)');
    last = now;
    Atomics.store(beat, 0, BigInt(now));
  }, HEARTBEAT_MS);
  stamp.unref();

  const threadFile = `./health-port-thread${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`;
  const data: HealthThreadData = { port: options.port, host: options.host, heartbeat, stalledAfterMs: STALLED_AFTER_MS };
  const thread = new Worker(new URL(threadFile, import.meta.url), { workerData: data });
  thread.unref();

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    thread.once('error', reject);
    thread.on('message', (message: HealthThreadMessage) => {
      if ('listening' in message) resolve(message.listening);
      else if ('failed' in message) reject(new Error(`HEALTH_PORT: ${message.failed}`));
      else {
        void checkReadiness(options.readiness).then((readiness) => thread.postMessage({ answer: message.ask, readiness } satisfies ReadinessAnswer));
      }
    });
  }).catch(async (error: unknown) => {
    clearInterval(stamp);
    await thread.terminate();
    throw error;
  });
  thread.on('error', (error) => options.log.error({ err: error }, 'the health port thread failed'));

  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    async close() {
      clearInterval(stamp);
      await thread.terminate();
    },
  };
}
