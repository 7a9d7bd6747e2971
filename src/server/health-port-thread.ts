/**
 * The body of the health port's thread (see health-port.ts): a plain node:http server that answers from the
 * heartbeat alone when the main thread is stuck, and relays `/readyz` to it when it is not.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { SwitchboardError } from '../errors.ts';
import { createServer } from '../node-http.ts';
import { answerError, sendJson } from './error-response.ts';
import type { HealthThreadData, HealthThreadMessage, ReadinessAnswer } from './health-port.ts';

/** How long `/readyz` waits for the main thread's checks (each bounds its own wait at 2 s). */
const ANSWER_WITHIN_MS = 3_000;

const { port, host, heartbeat, stalledAfterMs } = workerData as HealthThreadData;
const main = parentPort!;
const beat = new BigInt64Array(heartbeat);
const waiting = new Map<number, (answer: ReadinessAnswer['readiness'] | undefined) => void>();
let asked = 0;

main.on('message', ({ answer, readiness }: ReadinessAnswer) => waiting.get(answer)?.(readiness));

function stalledMs(): number {
  return Math.max(0, Date.now() - Number(Atomics.load(beat, 0)));
}

function askMain(): Promise<ReadinessAnswer['readiness'] | undefined> {
  const id = (asked += 1);
  return new Promise((resolve) => {
    const timer = setTimeout(() => settle(undefined), ANSWER_WITHIN_MS);
    function settle(readiness: ReadinessAnswer['readiness'] | undefined) {
      clearTimeout(timer);
      waiting.delete(id);
      resolve(readiness);
    }
    waiting.set(id, settle);
    main.postMessage({ ask: id } satisfies HealthThreadMessage);
  });
}

function notReady(res: ServerResponse, why: string): void {
  answerError(res, new SwitchboardError('E_NOT_READY', `not ready: ${why}`));
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/healthz' && path !== '/readyz') {
    answerError(res, new SwitchboardError('E_NOT_FOUND', `no route for ${req.method} ${path}`));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    answerError(res, new SwitchboardError('E_METHOD_NOT_ALLOWED', `${path} answers GET`));
    return;
  }
  const stalled = stalledMs();
  // Alive whatever the store does: a restart would not thaw a filesystem.
  if (path === '/healthz') {
    sendJson(res, 200, { status: 'ok', main_thread_stalled_ms: stalled });
    return;
  }
  const stuck = `main thread: has not turned for ${stalled} ms (a store call is likely stuck on its disk or a lock)`;
  if (stalled >= stalledAfterMs) return notReady(res, stuck);
  const readiness = await askMain();
  if (readiness === undefined) return notReady(res, `main thread: did not answer within ${ANSWER_WITHIN_MS} ms`);
  if (!readiness.ready) return notReady(res, readiness.why);
  sendJson(res, 200, { success: true, results: readiness });
}

const server = createServer((req, res) => {
  answer(req, res).catch((error: unknown) => answerError(res, error));
});
server.on('error', (error) => main.postMessage({ failed: error.message } satisfies HealthThreadMessage));
server.listen(port, host, () => main.postMessage({ listening: server.address() as AddressInfo } satisfies HealthThreadMessage));
