/**
 * `npm run bench:memory`: the resident memory of Switchboard as operators run it, the packed package installed into
 * a directory of its own and started with `switchboard serve`, on SQLite with the ingest benchmark's 200 rules: idle,
 * then each second of a run at `--rate` events/s (1,000) for `--duration` s (60; its tokens, all signed first, live
 * five minutes). The environment reaches the server (SQLITE_CACHE_MB, NODE_OPTIONS, MALLOC_ARENA_MAX).
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/serve-process.ts';
import { readFlags } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { runAtFixedRate } from './load.ts';
import { describeRun, formatNumber, printReport } from './report.ts';
import { prepareRun, ROOT } from './setup.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

const IDLE_SETTLE_MS = 5_000;
const START_TIMEOUT_MS = 60_000;

const flags = readFlags(['rate', 'duration']);
const rate = flags.number('rate', 1000);
const duration = flags.number('duration', 60);
const { workDir, credentials } = prepareRun('memory');
const { rulesDir, rulesNote } = await writeBenchRules(workDir, ROOT);
const bin = installPackage(join(workDir, 'app'));
const port = await freePort();
const server = spawn(process.execPath, [bin, 'serve'], {
  cwd: workDir,
  env: {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    LIVEKIT_API_KEY: credentials.apiKey,
    LIVEKIT_API_SECRET: credentials.apiSecret,
    RULES_DIR: rulesDir,
    PLUGINS_DIR: join(workDir, 'plugins'),
    DATABASE_URL: `file:${join(workDir, 'memory.db')}`,
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
process.once('exit', () => server.kill('SIGKILL'));
const target = { url: `http://127.0.0.1:${port}/api/v1/webhooks/livekit`, pid: server.pid! };
await untilReady(`http://127.0.0.1:${port}/readyz`);

/** Where the server's resident memory is, MiB: anonymous (heaps, caches) and file-backed (code). */
type Resident = { total: number; anonymous: number; files: number };
function resident(): Resident {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const kiB = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]) / 1024;
  return { total: kiB('VmRSS'), anonymous: kiB('RssAnon'), files: kiB('RssFile') + kiB('RssShmem') };
}

await sleep(IDLE_SETTLE_MS);
const idle = resident();
const deliveries = await signBeforeRun(createEventSource(), Math.round(rate * duration), credentials);
let peak = idle;
const sample = () => {
  const now = resident();
  if (now.total > peak.total) peak = now;
};
const sampler = setInterval(sample, 1000);
const load = await runAtFixedRate({ servers: [target], rate, deliveries });
clearInterval(sampler);
sample();
const end = resident();
server.kill('SIGTERM');
await new Promise((exited) => server.once('exit', exited));

const environment = ['SQLITE_CACHE_MB', 'NODE_OPTIONS', 'MALLOC_ARENA_MAX'].filter((name) => process.env[name]).map((name) => `${name}=${process.env[name]}`);
const header = [
  describeRun('bench:memory'),
  `Setup: the packed package installed and started with \`switchboard serve\`; SQLite, ${rulesNote}` +
    `${environment.length > 0 ? `; ${environment.join(' ')}` : ''}; open loop at ${formatNumber(rate)} events/s for ${duration} s; RSS from /proc each second.`,
];
const mib = (value: number) => formatNumber(value, 1);
const row = (moment: string, memory: Resident) => [moment, mib(memory.total), formatNumber(memory.total * 1.048576, 1), mib(memory.anonymous), mib(memory.files)];
printReport(header, [
  [
    ['moment', 'RSS MiB', 'RSS MB', 'anonymous MiB', 'files MiB'],
    row('idle', idle),
    row(`peak at ${formatNumber(rate)}/s`, peak),
    row('end of the run', end),
  ],
  [['events acknowledged', 'non-2xx + errors'], [formatNumber(load.ok), formatNumber(load.non2xx + load.errors)]],
]);

/** `npm pack` of this checkout installed into `dir`, as the README's quickstart does: the path of its bin. */
function installPackage(dir: string): string {
  mkdirSync(join(dir, 'packed'), { recursive: true });
  mkdirSync(join(workDir, 'plugins'));
  try {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', join(dir, 'packed')], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmSync(join(ROOT, 'dist'), { recursive: true, force: true }); // the checkout keeps running its sources
  }
  const [tarball] = readdirSync(join(dir, 'packed'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'memory-bench', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, 'packed', tarball)], { cwd: dir, stdio: 'pipe' }); // an error carries its output
  return join(dir, 'node_modules', 'livekit-switchboard', 'bin', 'switchboard.js');
}

async function untilReady(url: string): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    if (server.exitCode !== null) throw new Error(`switchboard serve exited with code ${server.exitCode}`);
    await sleep(100);
  }
  throw new Error(`switchboard serve was not ready within ${START_TIMEOUT_MS} ms`);
}
