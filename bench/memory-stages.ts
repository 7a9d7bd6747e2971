/**
 * `npm run bench:memory-stages`: where the resident memory of an idle Switchboard goes, stage by stage, in a process
 * of its own on SQLite with the ingest benchmark's 200 rules (see bench/servers/memory-stages.ts). `--runs` (default
 * 3) repeats it, each in a fresh process. Timings play no part: RSS holds on a busy machine.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { positiveNumber } from './flags.ts';
import { writeBenchRules } from './ingest-run.ts';
import { describeRun, formatNumber, markdownTable, textTable } from './report.ts';
import { switchboardEnvironment } from './server-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = positiveNumber('--runs', flags.runs!);
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-memory-stages-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));

const rulesDir = join(workDir, 'rules');
const rulesNote = await writeBenchRules(rulesDir, ROOT);
const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };
const results: { stage: string; rssMiB: number; heapMiB: number }[][] = [];
for (let run = 0; run < runs; run++) {
  const env = switchboardEnvironment({ credentials, rulesDir, pluginsDir: join(ROOT, 'plugins'), databaseUrl: `file:${join(workDir, `stages-${run}.db`)}` });
  const output = execFileSync(process.execPath, ['--expose-gc', join(ROOT, 'bench/servers/memory-stages.ts')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  results.push(JSON.parse(output.trim().split('\n').at(-1)!));
}

const range = (values: number[]) => {
  const [low, high] = [Math.min(...values), Math.max(...values)];
  return high - low < 0.5 ? formatNumber(low, 1) : `${formatNumber(low, 1)}–${formatNumber(high, 1)}`;
};
const rows = [
  ['stage', 'RSS MiB', 'V8 heap used MiB'],
  ...results[0]!.map(({ stage }, index) => [stage, range(results.map((r) => r[index]!.rssMiB)), range(results.map((r) => r[index]!.heapMiB))]),
];
const header = `${describeRun('bench:memory-stages')}\nSetup: SQLite, ${rulesNote}; ${runs} runs, each in a fresh process; RSS and heap after a forced collection.`;
console.log(`\n${header}\n\n${textTable(rows)}\n\nFor docs/performance.md:\n\n${header.replace('\n', '  \n')}\n\n${markdownTable(rows)}`);
