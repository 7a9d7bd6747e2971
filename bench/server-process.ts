/**
 * Starts a server under test in a child process of its own, so it never shares an event loop (or a core it did
 * not ask for) with the load generator.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { ListeningMessage } from './servers/lifecycle.ts';

export interface ServerProcess {
  /** Where to post deliveries. */
  url: string;
  pid: number;
  /**
   * Sends `question` to the child over IPC and resolves with the next message it sends back, for servers that
   * report more than their URL (see receiver.ts). One question at a time.
   */
  ask<Answer>(question: object): Promise<Answer>;
  /** Stops the server and waits for its process to exit (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  env: Record<string, string>;
  /** Extra Node.js flags for the child, e.g. `--cpu-prof`. */
  execArgv?: string[];
  startTimeoutMs?: number;
}

const STOP_GRACE_MS = 10_000;

export function startServerProcess(script: string, options: ServerProcessOptions): Promise<ServerProcess> {
  const child = fork(script, [], {
    execPath: process.execPath,
    execArgv: options.execArgv ?? [],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Whatever happens to the benchmark, the server does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise<ServerProcess>((resolve, reject) => {
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start within ${options.startTimeoutMs ?? 60_000} ms`));
    }, options.startTimeoutMs ?? 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timeout);
      reject(new Error(`${script} exited before listening (code ${code}, signal ${signal})`));
    });
    child.once('message', (message: ListeningMessage) => {
      clearTimeout(timeout);
      resolve({
        url: message.listening,
        pid: child.pid!,
        ask: (question) => ask(child, question),
        stop: () => stop(child, exited, killOnExit),
      });
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

export interface SwitchboardSetup {
  credentials: { apiKey: string; apiSecret: string };
  rulesDir: string;
  pluginsDir: string;
  databaseUrl: string;
}

/**
 * The environment of a Switchboard under test (bench/servers/switchboard.ts): loopback, a port of the system's
 * choosing, and LOG_LEVEL=warn (at info every webhook writes a log line to stdout, which would be measured too).
 */
export function switchboardEnvironment({ credentials, rulesDir, pluginsDir, databaseUrl }: SwitchboardSetup): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    LIVEKIT_API_KEY: credentials.apiKey,
    LIVEKIT_API_SECRET: credentials.apiSecret,
    RULES_DIR: rulesDir,
    PLUGINS_DIR: pluginsDir,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
  };
}
