/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks functions by self time (where the CPU actually went) and by
 * total time (self time plus that of everything they called: which step of the pipeline costs what).
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
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

export interface SelfTime {
  /** `name (file:line)`, the file relative to the working directory. */
  function: string;
  ms: number;
  /** Share of the time the process was busy, i.e. of every sample but `(idle)`. */
  percent: number;
}

const IDLE = '(idle)';

export function topSelfTime(file: string, limit: number): SelfTime[] {
  return rank(file, limit, (label) => [label]);
}

/** Like topSelfTime, but each function is charged for every sample it is on the stack of (once per sample). */
export function topTotalTime(file: string, limit: number): SelfTime[] {
  return rank(file, limit, (_label, stack) => new Set(stack));
}

function rank(file: string, limit: number, chargedFor: (label: string, stack: string[]) => Iterable<string>): SelfTime[] {
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
  const micros = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((nodeId, i) => {
    const label = labelOf.get(nodeId)!;
    if (label === IDLE) return;
    const delta = profile.timeDeltas[i] ?? 0;
    for (const charged of chargedFor(label, stackOf(nodeId))) micros.set(charged, (micros.get(charged) ?? 0) + delta);
    busy += delta;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([label, us]) => ({ function: label, ms: us / 1000, percent: (100 * us) / busy }));
}

/** The top functions by self time, then by total time, as text tables. */
export function describeProfile(file: string): string {
  const table = (heading: string, entries: SelfTime[]) =>
    textTable([[heading, 'ms', 'function'], ...entries.map((entry) => [formatNumber(entry.percent, 1) + '%', formatNumber(entry.ms), entry.function])]);
  return `${table('self', topSelfTime(file, 25))}\n\nTop total time (self and callees):\n${table('total', topTotalTime(file, 40))}`;
}
