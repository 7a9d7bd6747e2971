/**
 * Starts a server under test in a child process of its own, so it never shares an event loop (or a core it did
 * not ask for) with the load generator. Whatever happens to the benchmark, the server does not outlive it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ListeningMessage } from './servers/lifecycle.ts';

export interface ServerProcess {
  /** Where to post deliveries. */
  url: string;
  pid: number;
  /** Sends `question` over IPC and resolves with the child's next message (see receiver.ts). One at a time. */
  ask<Answer>(question: object): Promise<Answer>;
  /** Stops the server and waits for its process to exit (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export type Credentials = { apiKey: string; apiSecret: string };
type SwitchboardSetup = { credentials: Credentials; rulesDir: string; databaseUrl: string; env?: Record<string, string>; execArgv?: string[] };

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/**
 * The Switchboard of `checkout` (bench/servers/switchboard.ts) on loopback, a port of the system's choosing, and
 * LOG_LEVEL=warn (at info every webhook writes a log line, which would be measured too); `env` adds to that.
 */
export function startSwitchboard(checkout: string, { credentials, rulesDir, databaseUrl, env, execArgv }: SwitchboardSetup): Promise<ServerProcess> {
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

/** The bare baseline (bench/servers/baseline.ts): it only verifies each delivery. */
export function startBaseline({ apiKey, apiSecret }: Credentials): Promise<ServerProcess> {
  return startServerProcess(join(import.meta.dirname, 'servers/baseline.ts'), { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret });
}

export function startServerProcess(script: string, env: Record<string, string>, execArgv: string[] = []): Promise<ServerProcess> {
  const child = fork(script, [], { execPath: process.execPath, execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<ServerProcess>((resolve, reject) => {
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timeout);
      reject(new Error(`${script} exited before listening (code ${code}, signal ${signal})`));
    });
    child.once('message', (message: ListeningMessage) => {
      clearTimeout(timeout);
      resolve({ url: message.listening, pid: child.pid!, ask: (question) => ask(child, question), stop: () => stop(child, exited, killOnExit) });
    });
  });
}

function ask<Answer>(child: ChildProcess, question: object): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const gone = () => reject(new Error(`the server process ${child.pid} exited before it answered ${JSON.stringify(question)}`));
    child.once('exit', gone);
    child.once('message', (answer: Answer) => {
      child.off('exit', gone);
      resolve(answer);
    });
    child.send(question);
  });
}

async function stop(child: ChildProcess, exited: Promise<void>, killOnExit: () => void): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(grace);
  }
  process.removeListener('exit', killOnExit);
}
