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

if (Number(process.versions.node.split('.')[0]) >= NEEDED_MAJOR) {
  await import(cliUrl.href);
} else {
  const runtime = pinnedRuntime();
  if (runtime === undefined) {
    console.error(`switchboard needs Node.js ${NEEDED_MAJOR} or newer (found v${process.versions.node})`);
    process.exit(1);
  }
  const child = spawn(runtime, [fileURLToPath(cliUrl), ...process.argv.slice(2)], { stdio: 'inherit' });
  // The CLI shuts down on these: pass them on, since a supervisor signals this process, not the child.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
}

function pinnedRuntime() {
  try {
    const binary = join(dirname(createRequire(import.meta.url).resolve('node/package.json')), 'bin', 'node');
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined; // the `node` package is not installed (npm install --omit=optional, an offline mirror…)
  }
}
