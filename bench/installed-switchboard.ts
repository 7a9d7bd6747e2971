/**
 * Switchboard as operators run it (`bench:memory`, `bench:targets`): the packed package of this checkout installed
 * into a directory of its own and started with its bin, `switchboard serve`, its resident memory read from /proc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/serve-process.ts';
import { ROOT } from './setup.ts';

const START_TIMEOUT_MS = 60_000;

/** `npm pack` of this checkout installed into `dir`, as the README's quickstart does: the path of its bin. */
export function installPackage(dir: string): string {
  mkdirSync(join(dir, 'packed'), { recursive: true });
  try {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', join(dir, 'packed')], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmSync(join(ROOT, 'dist'), { recursive: true, force: true }); // the checkout keeps running its sources
  }
  const [tarball] = readdirSync(join(dir, 'packed'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'installed-switchboard', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, 'packed', tarball)], { cwd: dir, stdio: 'pipe' }); // an error carries its output
  return join(dir, 'node_modules', 'livekit-switchboard', 'bin', 'switchboard.js');
}

/** Where a process's resident memory is, MiB: anonymous (heaps, caches) and file-backed (code). */
export type Resident = { total: number; anonymous: number; files: number };

export type InstalledServer = Awaited<ReturnType<typeof startInstalled>>;

/**
 * `bin serve` in `workDir` on a free loopback port, without plugins of its own (an empty `workDir/plugins`) and with
 * warnings-only logs; `env` adds to the benchmark's environment (credentials, RULES_DIR, DATABASE_URL, …). Resolves
 * once it is ready; it is killed if the benchmark exits first. `inspector`: `collectGarbage()` may open its inspector,
 * on a loopback port, which stays closed until then.
 */
export async function startInstalled(bin: string, workDir: string, env: Record<string, string>, { inspector = false } = {}) {
  const port = await freePort();
  const inspectorPort = inspector ? await freePort() : undefined;
  mkdirSync(join(workDir, 'plugins'), { recursive: true });
  const execArgv = inspectorPort === undefined ? [] : [`--inspect-port=127.0.0.1:${inspectorPort}`];
  const server = spawn(process.execPath, [...execArgv, bin, 'serve'], {
    cwd: workDir,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), PLUGINS_DIR: join(workDir, 'plugins'), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const kill = () => server.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise((resolve) => server.once('exit', resolve));
  /** The first 2xx answer of `url`, asked every 100 ms while the server runs. */
  const firstAnswer = async (url: string): Promise<Response> => {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const answer = await fetch(url).catch(() => undefined);
      if (answer?.ok) return answer;
      if (server.exitCode !== null) throw new Error(`switchboard serve exited with code ${server.exitCode}`);
      if (performance.now() > deadline) throw new Error(`${url} did not answer within ${START_TIMEOUT_MS} ms`);
      await sleep(100);
    }
  };
  const origin = `http://127.0.0.1:${port}`;
  await firstAnswer(`${origin}/readyz`);
  return {
    /** Where LiveKit posts. */
    url: `${origin}/api/v1/webhooks/livekit`,
    pid: server.pid!,
    resident(): Resident {
      const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
      const kiB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]) / 1024;
      return { total: kiB('VmRSS'), anonymous: kiB('RssAnon'), files: kiB('RssFile') + kiB('RssShmem') };
    },
    /**
     * A full garbage collection, which also gives the heap's free pages back to the system: what stays resident
     * after it is held, not garbage that V8 has yet to collect. SIGUSR1 opens the inspector, as `node inspect -p` does.
     */
    async collectGarbage(): Promise<void> {
      if (inspectorPort === undefined) throw new Error('collectGarbage needs a server started with inspector: true');
      server.kill('SIGUSR1');
      const sessions = await firstAnswer(`http://127.0.0.1:${inspectorPort}/json/list`);
      const [{ webSocketDebuggerUrl }] = (await sessions.json()) as Array<{ webSocketDebuggerUrl: string }>;
      const session = new WebSocket(webSocketDebuggerUrl);
      await new Promise((opened) => session.addEventListener('open', opened, { once: true }));
      const collected = new Promise((answered) => session.addEventListener('message', answered, { once: true }));
      session.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      await collected;
      session.close();
    },
    async stop(): Promise<void> {
      server.kill('SIGTERM');
      await exited;
      process.off('exit', kill);
    },
  };
}
