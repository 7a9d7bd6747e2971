/** What every benchmark prints: the run it was, then its tables and notes in markdown for docs/performance.md. */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';

type Table = readonly (readonly string[])[];

/** What ran, on which code and machine, and the command that reproduces it. */
export function describeRun(script: string): string {
  const args = process.argv.slice(2).join(' ');
  const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), Node.js ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  return `${script}, ${describeCode()}: ${machine}\nCommand: npm run ${script}${args ? ` -- ${args}` : ''}`;
}

function describeCode(): string {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return `commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : ' + uncommitted changes'}`;
  } catch {
    return 'commit unknown (not a git checkout)';
  }
}

export function markdownTable([header, ...body]: Table): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

/** Under "For docs/performance.md:", the header's lines, the tables and the notes as a list. */
export function printReport(header: readonly string[], tables: readonly Table[], notes: readonly string[] = []): void {
  const sections = [header.join('  \n'), ...tables.map(markdownTable), notes.map((line) => `- ${line}`).join('\n')];
  console.log(`\nFor docs/performance.md:\n\n${sections.filter((section) => section !== '').join('\n\n')}`);
}

/** Says why the results are void, and fails the command. */
export function failOn(problems: readonly string[], what = 'these results are not valid measurements'): void {
  if (problems.length === 0) return;
  console.error(`\nFAILED: ${what}:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
}

/** `1234.5` → `1,235`; small numbers keep their decimals. */
export function formatNumber(value: number, decimals = 0): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals }) : 'n/a';
}

/** Milliseconds, to two decimals. */
export const formatMs = (value: number): string => formatNumber(value, 2);

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'MISSED';
}
