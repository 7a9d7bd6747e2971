/**
 * Starts a server under test (bench/servers/) in a child process of its own, so it never shares an event loop (or a
 * core it did not ask for) with the load generator. Whatever happens to the benchmark, the server does not outlive it.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Arrivals, ReceiverCounts } from './servers/counting-receiver.ts';

export type ServerProcess = Awaited<ReturnType<typeof startServerProcess>>;
export type Credentials = { apiKey: string; apiSecret: string };
type SwitchboardSetup = { credentials: Credentials; rulesDir: string; databaseUrl: string; env?: Record<string, string>; execArgv?: string[] };

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const ARRIVALS_POLL_MS = 50;

/**
 * The Switchboard of `checkout` on loopback, a port of the system's choosing, and LOG_LEVEL=warn (at info every
 * webhook writes a log line, which would be measured too); `env` adds to that.
 */
export function startSwitchboard(checkout: string, { credentials, rulesDir, databaseUrl, env, execArgv }: SwitchboardSetup) {
  return startServerProcess(join(checkout, 'bench/servers/switchboard.ts'), {
    PORT: '0',
    HOST: '127.0.0.1',
    LIVEKIT_API_KEY: credentials.apiKey,
    LIVEKIT_API_SECRET: credentials.apiSecret,
    RULES_DIR: rulesDir,
    PLUGINS_DIR: join(checkout, 'plugins'),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    ...env,
  }, execArgv);
}

/** The bare baseline (servers/baseline.ts): it only verifies each delivery. */
export function startBaseline({ apiKey, apiSecret }: Credentials) {
  return startServerProcess(join(import.meta.dirname, 'servers/baseline.ts'), { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret });
}

export type CountingReceiver = Awaited<ReturnType<typeof startCountingReceiver>>;

/** The delivery benchmarks' third-party endpoint (servers/counting-receiver.ts). */
export async function startCountingReceiver() {
  const child = await startServerProcess(join(import.meta.dirname, 'servers/counting-receiver.ts'), {});
  return {
    ...child,
    counts: () => child.ask<ReceiverCounts>('counts'),
    /** The first arrivals since the previous call (or the start), waiting up to `limitMs` for `count` of them. */
    async arrivals(count = 0, limitMs = 0): Promise<Arrivals> {
      const deadline = performance.now() + limitMs;
      let taken = await child.ask<Arrivals>('arrivals');
      while (taken.ids.length < count && performance.now() < deadline) {
        await sleep(ARRIVALS_POLL_MS);
        const more = await child.ask<Arrivals>('arrivals');
        taken = { ids: taken.ids.concat(more.ids), at: taken.at.concat(more.at) };
      }
      return taken;
    },
  };
}

async function startServerProcess(script: string, env: Record<string, string>, execArgv: string[] = []) {
  const child = fork(script, [], { execPath: process.execPath, execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  // The child's first message says where it listens; each one after answers the oldest question still waiting.
  const waiting: Array<{ resolve(message: unknown): void; reject(error: Error): void }> = [];
  const next = <Message>() => new Promise<Message>((resolve, reject) => waiting.push({ resolve: resolve as (message: unknown) => void, reject }));
  child.on('message', (message) => waiting.shift()?.resolve(message));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      for (const { reject } of waiting.splice(0)) reject(new Error(`${script} exited before it answered (code ${code}, signal ${signal})`));
      resolve();
    }),
  );
  const timeout = setTimeout(() => waiting[0]?.reject(new Error(`${script} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
  const { listening } = await next<{ listening: string }>().finally(() => clearTimeout(timeout));
  return {
    /** Where to send requests. */
    url: listening,
    pid: child.pid!,
    /** The child's answer to the question `type` (servers/lifecycle.ts). */
    ask<Answer>(type: string): Promise<Answer> {
      const answer = next<Answer>();
      child.send({ type });
      return answer;
    },
    /** Stops the server and waits for its process to exit (SIGKILL after a grace period). */
    async stop(): Promise<void> {
      child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    },
  };
}
