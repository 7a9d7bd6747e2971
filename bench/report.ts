/** What every benchmark prints: the machine it ran on, and aligned text and markdown tables of its results. */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';

interface Machine {
  cores: number;
  cpu: string;
  node: string;
  date: string;
}

function machine(): Machine {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    date: new Date().toISOString().slice(0, 10),
  };
}

function describeMachine({ cores, cpu, node, date }: Machine): string {
  return `${cores} cores (${cpu}), Node.js ${node}, ${date}`;
}

/** The first lines of every report: what ran, on which code and machine, and the command that reproduces it. */
export function describeRun(script: string): string {
  const args = process.argv.slice(2).join(' ');
  return `${script}, ${describeCode()}: ${describeMachine(machine())}\nCommand: npm run ${script}${args ? ` -- ${args}` : ''}`;
}

const NUMERIC = /^([\d.,]+|n\/a)[%×]?$/;

/** The code measured: the commit, and whether the working tree differs from it. */
function describeCode(): string {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : ' + uncommitted changes'}`;
  } catch {
    return 'commit unknown (not a git checkout)';
  }
}

/** Columns padded to their widest cell; columns of numbers (below the header row) right-aligned. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const numeric = rows[0].map((_, column) => rows.slice(1).every((row) => NUMERIC.test(row[column])));
  return rows
    .map((row) => row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd())
    .join('\n');
}

export function markdownTable(rows: readonly (readonly string[])[]): string {
  const [header, ...body] = rows;
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

/** `1234.5` → `1,235`; small numbers keep their decimals. */
export function formatNumber(value: number, decimals = 0): string {
  return Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
    : 'n/a';
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Microseconds of CPU per event, from the cores used while `eventsPerSecond` were served. */
export function microsPerEvent(cores: number, eventsPerSecond: number): number {
  return (1e6 * cores) / eventsPerSecond;
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'MISSED';
}
