/**
 * Problems in rule files: how a compiler reports one (a path inside the YAML document, and what is wrong there),
 * and all of them as one error, `file:line:col: [rule id] message`, one line each, in the order they were written.
 */
import { SwitchboardError } from '../errors.ts';
import { formatNodePath, type NodePath } from '../schema-issues.ts';
import type { RuleProblem } from './types.ts';

/** `onKey` points the location at the key of the last path segment rather than at its value. */
export type ReportIssue = (path: NodePath, message: string, onKey?: boolean) => void;

/** For compiling values outside a rule file (tests, tools): the first issue becomes an exception. */
export const throwIssue: ReportIssue = (path, message) => {
  throw new Error(path.length === 0 ? message : `${formatNodePath(path)}: ${message}`);
};

function formatProblem(problem: RuleProblem): string {
  const rule = problem.ruleId === undefined ? '' : `[${problem.ruleId}] `;
  return `${problem.file}:${problem.line}:${problem.column}: ${rule}${problem.message}`;
}

/** E_RULES_INVALID listing every problem; `details.problems` holds them for tools. */
export function rulesInvalid(problems: readonly RuleProblem[]): SwitchboardError {
  const fileOrder = new Map<string, number>();
  for (const problem of problems) if (!fileOrder.has(problem.file)) fileOrder.set(problem.file, fileOrder.size);
  const sorted = [...problems].sort(
    (a, b) => fileOrder.get(a.file)! - fileOrder.get(b.file)! || a.line - b.line || a.column - b.column,
  );
  return new SwitchboardError('E_RULES_INVALID', sorted.map(formatProblem).join('\n'), { details: { problems: sorted } });
}
