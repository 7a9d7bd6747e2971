#!/usr/bin/env node
// Runs the TypeScript CLI directly. Node 22.18+ strips types by default; older 22.x releases need the flags.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cliUrl = new URL('../src/cli.ts', import.meta.url);
if (process.features.typescript) {
  await import(cliUrl.href);
} else {
  const flags = ['--experimental-strip-types', '--experimental-sqlite', '--no-warnings=ExperimentalWarning'];
  const { status, signal } = spawnSync(process.execPath, [...flags, fileURLToPath(cliUrl), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(signal ? 1 : (status ?? 1));
}
