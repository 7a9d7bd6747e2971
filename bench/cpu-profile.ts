/** Reads a V8 `.cpuprofile` (node --cpu-prof) and ranks functions by self time: where the CPU actually went. */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
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
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const labelOf = new Map<number, string>();
  for (const { id, callFrame } of profile.nodes) {
    const name = callFrame.functionName || '(anonymous)';
    const where = callFrame.url ? ` (${relative(process.cwd(), callFrame.url.replace(/^file:\/\//, ''))}:${callFrame.lineNumber + 1})` : '';
    labelOf.set(id, `${name}${where}`);
  }
  const micros = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((nodeId, i) => {
    const label = labelOf.get(nodeId)!;
    if (label === IDLE) return;
    const delta = profile.timeDeltas[i] ?? 0;
    micros.set(label, (micros.get(label) ?? 0) + delta);
    busy += delta;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([label, us]) => ({ function: label, ms: us / 1000, percent: (100 * us) / busy }));
}
