/** A rule's `filter:`: dotted paths mapped to patterns, compiled at load into one predicate over the event. */
import type { EventContext } from '../../livekit/event-types.ts';
import type { NodePath } from '../../schema-issues.ts';
import { throwIssue, type ReportIssue } from '../problems.ts';
import { compileGlob, literalStart } from './glob.ts';
import { compilePath, parsePath, type PathReader } from './paths.ts';

type EventPredicate = (context: EventContext) => boolean;
type ValueTest = (value: unknown) => boolean;

interface PathTest {
  read: PathReader;
  test: ValueTest;
}

/** Every entry must hold. Patterns are validated by the schema; paths and globs are checked here. */
export function compileFilter(
  filter: Record<string, unknown>,
  report: ReportIssue = throwIssue,
  at: NodePath = [],
): EventPredicate {
  const tests: PathTest[] = [];
  for (const [path, patterns] of Object.entries(filter)) {
    const segments = parsePath(path);
    if (segments === null) {
      report([...at, path], `invalid path "${path}": use dotted names such as room.name or egressInfo.fileResults.0.filename`, true);
      continue;
    }
    tests.push({ read: compilePath(segments), test: compilePatterns(patterns, [...at, path], report) });
  }
  return (context) => {
    for (let i = 0; i < tests.length; i++) {
      if (!tests[i].test(tests[i].read(context))) return false;
    }
    return true;
  };
}

/**
 * For each path of the filter whose every pattern is a string with a literal start: those starts. The path's value,
 * in its string form, must begin with one of them for the filter to hold (see compilePattern), which lets a rule set
 * pass over the rules an event cannot match without running them.
 */
export function requiredStarts(filter: Record<string, unknown>): Map<string, string[]> {
  const starts = new Map<string, string[]>();
  for (const [path, patterns] of Object.entries(filter)) {
    const list = Array.isArray(patterns) ? patterns : [patterns];
    const known = list.map((pattern) => (typeof pattern === 'string' ? literalStart(pattern) : ''));
    if (known.length > 0 && known.every((start) => start !== '')) starts.set(path, known);
  }
  return starts;
}

function compilePatterns(patterns: unknown, at: NodePath, report: ReportIssue): ValueTest {
  if (!Array.isArray(patterns)) return compilePattern(patterns, at, report);
  const tests = patterns.map((pattern, index) => compilePattern(pattern, [...at, index], report));
  return (value) => {
    for (let i = 0; i < tests.length; i++) {
      if (tests[i](value)) return true;
    }
    return false;
  };
}

function compilePattern(pattern: unknown, at: NodePath, report: ReportIssue): ValueTest {
  if (pattern === null) return (value) => value === undefined || value === null;
  if (typeof pattern === 'string') {
    try {
      const matches = compileGlob(pattern);
      return (value) => isScalar(value) && matches(String(value));
    } catch (error) {
      report(at, (error as Error).message);
      return () => false;
    }
  }
  // LiveKit sends int64 fields as strings, so 300 also matches "300" (and true matches "true").
  const text = String(pattern);
  return (value) => value === pattern || (typeof value === 'string' && value === text);
}

/** Objects and lists never match a string pattern: their string forms are not what anyone means to filter on. */
function isScalar(value: unknown): value is string | number | boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean';
}
