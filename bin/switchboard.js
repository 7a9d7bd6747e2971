#!/usr/bin/env node
// Starts the CLI on Node.js 24 or newer: the Node running this file when it is new enough, else the one the package
// pins (its `node` dependency), else it says what it needs. Written for old Node on purpose: it is what runs first.
// A checkout runs the TypeScript sources; an installed copy runs the compiled dist/, since Node will not strip
// types from files under node_modules.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NEEDED_MAJOR = 24;
const installed = import.meta.url.includes('/node_modules/');
const cliUrl = new URL(installed ? '../dist/src/cli.js' : '../src/cli.ts', import.meta.url);
const args = process.argv.slice(2);
const runtime = args[0] === 'serve' ? serveRuntime(process.env, process.execArgv) : { execArgv: [], env: {} };

if (Number(process.versions.node.split('.')[0]) >= NEEDED_MAJOR) {
  const changed = runtime.execArgv.length > 0 || Object.keys(runtime.env).length > 0;
  if (changed && typeof process.execve === 'function') {
    // Same process, same pid, for a supervisor that watches it; only the flags and the environment change.
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...runtime.execArgv, fileURLToPath(import.meta.url), ...args], {
      ...process.env,
      ...runtime.env,
    });
  }
  await import(cliUrl.href);
} else {
  const pinned = pinnedRuntime();
  if (pinned === undefined) {
    console.error(`switchboard needs Node.js ${NEEDED_MAJOR} or newer (found v${process.versions.node})`);
    process.exit(1);
  }
  const child = spawn(pinned, [...runtime.execArgv, fileURLToPath(cliUrl), ...args], { stdio: 'inherit', env: { ...process.env, ...runtime.env } });
  // The CLI shuts down on these: pass them on, since a supervisor signals this process, not the child.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
}

// What `serve` runs with unless the operator chose otherwise (docs/decisions/0016-serve-memory-defaults.md): V8's
// young generation held to semi-spaces of 4 MiB, and glibc's malloc to two arenas instead of eight per core, which
// the process's threads (SQLite's log writer and checkpointer) would otherwise each keep.
function serveRuntime(env, execArgv) {
  const chosen = (flag) => execArgv.some((arg) => arg.startsWith(flag)) || (env.NODE_OPTIONS ?? '').includes(flag);
  return {
    execArgv: chosen('--max-semi-space-size') ? [] : ['--max-semi-space-size=4'],
    env: env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2' } : {},
  };
}

function pinnedRuntime() {
  try {
    const binary = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node');
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined; // the `node` package is not installed (npm install --omit=optional, an offline mirror…)
  }
}
