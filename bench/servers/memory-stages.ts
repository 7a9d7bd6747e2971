/**
 * The in-process stages of bench/memory-stages.ts: RSS and V8 heap after a forced collection, bare, once
 * Switchboard's modules are imported, and started (configured from the environment) after 3 s idle. Prints one JSON
 * line and exits. Run with --expose-gc.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const IDLE_MS = 3_000;
const MiB = 1024 * 1024;
const stages: { stage: string; rssMiB: number; heapMiB: number }[] = [];

function measure(stage: string): void {
  globalThis.gc!();
  const { rss, heapUsed } = process.memoryUsage();
  stages.push({ stage, rssMiB: rss / MiB, heapMiB: heapUsed / MiB });
}

measure('bare Node.js (type stripping)');
// serve.ts too: what `switchboard serve` imports beyond what starting the app needs (tracing) counts.
const [{ startSwitchboard }, { loadConfig, readEnvironment }, { createLogger }] = await Promise.all([
  import('../../src/app.ts'),
  import('../../src/config.ts'),
  import('../../src/telemetry/logger.ts'),
  import('../../src/commands/serve.ts'),
]);
measure("Switchboard's modules imported");
const config = loadConfig({ env: readEnvironment(process.env, process.cwd()) });
const switchboard = await startSwitchboard(config, createLogger({ level: config.logLevel }), { env: process.env });
await sleep(IDLE_MS);
measure(`started, idle ${IDLE_MS / 1000} s`);
await switchboard.close();
console.log(JSON.stringify(stages));
