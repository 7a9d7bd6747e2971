/**
 * Matching an event against its candidate rules without trying every one. Most candidates of a multi-tenant rule set
 * filter the same path (`room.name: tenant-12-*`) on values an event mostly lacks; indexed by the literal start their
 * patterns require (see requiredStarts), only those whose start the event's value has are run, with the rules that
 * do not constrain that path. Either way the answer is what running every candidate would give, in the same order.
 */
import type { EventContext } from '../../livekit/event-types.ts';
import { compilePath, parsePath } from '../compile/paths.ts';
import type { IndexedRule } from '../compile/rule.ts';
import type { CompiledRule } from '../types.ts';

export type CandidateMatcher = (context: EventContext) => CompiledRule[];

/** With fewer candidates requiring a start on one path, trying them all costs no more than the index. */
const MIN_INDEXED = 8;

export function candidateMatcher(candidates: readonly IndexedRule[]): CandidateMatcher {
  const path = mostConstrainedPath(candidates);
  if (path === undefined) {
    const everyPosition = candidates.map((_, position) => position);
    return (context) => matchEach(candidates, everyPosition, context);
  }

  const read = compilePath(parsePath(path)!);
  const unconstrained: number[] = [];
  const byStart = new Map<string, number[]>();
  candidates.forEach((rule, position) => {
    const starts = rule.requiredStarts.get(path);
    if (starts === undefined) {
      unconstrained.push(position);
      return;
    }
    for (const start of new Set(starts)) {
      const positions = byStart.get(start);
      if (positions === undefined) byStart.set(start, [position]);
      else positions.push(position);
    }
  });
  const startLengths = [...new Set([...byStart.keys()].map((start) => start.length))].sort((a, b) => a - b);

  return (context) => {
    const text = stringForm(read(context));
    let positions = unconstrained;
    if (text !== undefined) {
      for (const length of startLengths) {
        if (length > text.length) break;
        const found = byStart.get(text.slice(0, length));
        if (found !== undefined) positions = positions.concat(found);
      }
      // Buckets hold positions in order; merged, they are put back in declaration order.
      if (positions.length !== unconstrained.length) positions.sort((a, b) => a - b);
    }
    return matchEach(candidates, positions, context);
  };
}

/** The path the most candidates require a start on, if enough do to be worth an index. */
function mostConstrainedPath(candidates: readonly IndexedRule[]): string | undefined {
  const counts = new Map<string, number>();
  for (const rule of candidates) {
    for (const path of rule.requiredStarts.keys()) counts.set(path, (counts.get(path) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestCount = MIN_INDEXED - 1;
  for (const [path, count] of counts) {
    if (count > bestCount) {
      best = path;
      bestCount = count;
    }
  }
  return best;
}

/** As the filter compares values with string patterns: scalars by their string form; anything else never matches. */
function stringForm(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** `positions` ascending, possibly repeating one (a rule under two starts the value has). */
function matchEach(candidates: readonly IndexedRule[], positions: readonly number[], context: EventContext): CompiledRule[] {
  const matched: CompiledRule[] = [];
  let previous = -1;
  for (let i = 0; i < positions.length; i++) {
    const position = positions[i];
    if (position === previous) continue;
    previous = position;
    if (candidates[position].matches(context)) matched.push(candidates[position]);
  }
  return matched;
}
