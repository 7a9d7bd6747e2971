/**
 * `switchboard serve` as a child process on loopback, for tests that need a real process: to SIGKILL it, to run
 * several on one database, or to see what it sends out.
 *
 * ```ts
 * const replica = await startServeProcess({ RULES_DIR: rulesDir, DATABASE_URL: databaseUrl });
 * await replica.deliver(body);
 * await replica.stop('SIGKILL');
 * ```
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { livekitToken, TEST_KEY, TEST_SECRET } from './tokens.ts';

/** Time to start, migrate and answer /healthz: several processes may be starting at once on a small machine. */
const HEALTHY_WITHIN_MS = 30_000;

export interface ServeProcess {
  /** The process id; its delivery worker's lease owner starts with `<hostname>:<pid>:`. */
  pid: number;
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  url: string;
  /** Where LiveKit posts. */
  webhookUrl: string;
  /** Posts `body` to the webhook as LiveKit does (signed, `application/webhook+json`); `init` adds e.g. a signal. */
  deliver(body: string, init?: RequestInit): Promise<Response>;
  /** Everything the process wrote to stdout (its log lines) and stderr so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once the process has exited by itself, with its exit code (null when a signal ended it). */
  exited(): Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) unless the process has exited already; resolves once it has. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A TCP port on loopback that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePort(port));
    });
    probe.on('error', reject);
  });
}

/**
 * Starts `switchboard serve` with only PATH and `env` in its environment, on top of these defaults: a free loopback
 * port, the test key pair, the built-in plugins and warnings-only logs; `options` adds arguments (`--dev`) and a
 * working directory. Resolves once it answers /healthz (it has migrated by then); fails with its stderr when it
 * exits or stays silent instead.
 */
export async function startServeProcess(
  env: Record<string, string>,
  options: { args?: string[]; cwd?: string } = {},
): Promise<ServeProcess> {
  const port = env.PORT ?? String(await freePort());
  const child = spawn(process.execPath, [resolve('src/cli.ts'), 'serve', ...(options.args ?? [])], {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}`,
      PLUGINS_DIR: resolve('plugins'),
      LOG_LEVEL: 'warn',
      ...env,
      PORT: port,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let running = true;
  const exited = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      running = false;
      resolveExit();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const serveProcess: ServeProcess = {
    pid: child.pid!,
    url,
    webhookUrl: `${url}/api/v1/webhooks/livekit`,
    async deliver(body, init = {}) {
      return fetch(serveProcess.webhookUrl, {
        ...init,
        method: 'POST',
        headers: { Authorization: await livekitToken(body), 'Content-Type': 'application/webhook+json' },
        body,
      });
    },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async exited() {
      await exited;
      return child.exitCode;
    },
    stop(signal = 'SIGTERM') {
      if (running) child.kill(signal);
      return exited;
    },
  };

  const deadline = Date.now() + HEALTHY_WITHIN_MS;
  while (Date.now() < deadline) {
    if (!running) throw new Error(`switchboard serve exited with ${child.exitCode ?? child.signalCode}: ${stderr}`);
    const healthy = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) return serveProcess;
    await sleep(50);
  }
  await serveProcess.stop('SIGKILL');
  throw new Error(`switchboard serve did not answer /healthz within ${HEALTHY_WITHIN_MS / 1000}s: ${stderr}`);
}
