/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks functions by self time (where the CPU actually went) and by
 * total time (self time plus that of everything they called: which step of the pipeline costs what).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { formatNumber, textTable } from './report.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Ranked {
  /** `name (file:line)`, the file relative to the working directory. */
  function: string;
  ms: number;
  /** Share of the time the process was busy, i.e. of every sample but `(idle)`. */
  percent: number;
}

const IDLE = '(idle)';

/** A profile read once: each sample's label and, on demand, its stack of labels. */
interface Samples {
  profile: CpuProfile;
  labelOf: Map<number, string>;
  stackOf(nodeId: number): string[];
}

function readSamples(file: string): Samples {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const labelOf = new Map<number, string>();
  const parentOf = new Map<number, number>();
  for (const { id, callFrame, children } of profile.nodes) {
    const name = callFrame.functionName || '(anonymous)';
    const where = callFrame.url ? ` (${relative(process.cwd(), callFrame.url.replace(/^file:\/\//, ''))}:${callFrame.lineNumber + 1})` : '';
    labelOf.set(id, `${name}${where}`);
    for (const child of children ?? []) parentOf.set(child, id);
  }
  const stackOf = (nodeId: number): string[] => {
    const stack: string[] = [];
    for (let id: number | undefined = nodeId; id !== undefined; id = parentOf.get(id)) stack.push(labelOf.get(id)!);
    return stack;
  };
  return { profile, labelOf, stackOf };
}

/** `chargedFor`: the functions a sample's time counts for, given its own and (built only when asked) its stack. */
function rank(samples: Samples, limit: number, chargedFor: (label: string, stack: () => string[]) => Iterable<string>): Ranked[] {
  const { profile, labelOf, stackOf } = samples;
  const micros = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((nodeId, i) => {
    const label = labelOf.get(nodeId)!;
    if (label === IDLE) return;
    const delta = profile.timeDeltas[i] ?? 0;
    for (const charged of chargedFor(label, () => stackOf(nodeId))) micros.set(charged, (micros.get(charged) ?? 0) + delta);
    busy += delta;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([label, us]) => ({ function: label, ms: us / 1000, percent: (100 * us) / busy }));
}

/**
 * The top functions by self time, then by total time (each function charged for every sample it is on the stack
 * of, once per sample), as text tables.
 */
export function describeProfile(file: string): string {
  const samples = readSamples(file);
  const selfTime = rank(samples, 25, (label) => [label]);
  const totalTime = rank(samples, 40, (_label, stack) => new Set(stack()));
  const table = (heading: string, entries: Ranked[]) =>
    textTable([[heading, 'ms', 'function'], ...entries.map((entry) => [formatNumber(entry.percent, 1) + '%', formatNumber(entry.ms), entry.function])]);
  return `${table('self', selfTime)}\n\nTop total time (self and callees):\n${table('total', totalTime)}`;
}

/** Prints describeProfile for every profile in `dir` (the Switchboard process and its threads write one each). */
export function printProfiles(dir: string): void {
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    console.log(`\nSwitchboard CPU profile (${join(dir, file)}), over the whole process life:`);
    console.log(describeProfile(join(dir, file)));
  }
}
