/** json-logic conditions and computed values: validated at load, evaluated with json-logic-js. */
import jsonLogic from 'json-logic-js';
import type { EventContext } from '../../livekit/event-types.ts';
import { isPlainObject } from '../../plain-object.ts';
import type { NodePath } from '../../schema-issues.ts';
import { throwIssue, type ReportIssue } from '../problems.ts';

type LogicEvaluator = (context: EventContext) => unknown;

/** The standard json-logic-js operations. Others (custom or misspelled) are rejected at load. */
export const LOGIC_OPERATORS: ReadonlySet<string> = new Set([
  'var', 'missing', 'missing_some', 'if', '==', '===', '!=', '!==', '!', '!!', 'or', 'and',
  '>', '>=', '<', '<=', 'max', 'min', '+', '-', '*', '/', '%',
  'map', 'reduce', 'filter', 'all', 'none', 'some', 'merge', 'in', 'cat', 'substr', 'log',
]);

/** Validates a json-logic expression, reporting every problem, and returns its evaluator. */
export function compileLogic(logic: unknown, report: ReportIssue = throwIssue, at: NodePath = []): LogicEvaluator {
  checkLogic(logic, at, report);
  return (context) => jsonLogic.apply(logic as jsonLogic.RulesLogic, context);
}

function checkLogic(logic: unknown, at: NodePath, report: ReportIssue): void {
  if (logic === null || typeof logic === 'string' || typeof logic === 'boolean') return;
  if (typeof logic === 'number') return;
  if (Array.isArray(logic)) {
    logic.forEach((item, index) => checkLogic(item, [...at, index], report));
    return;
  }
  if (!isPlainObject(logic)) {
    report(at, `json-logic must be made of objects, lists and scalars, not ${describeValue(logic)}`);
    return;
  }
  const keys = Object.keys(logic);
  if (keys.length !== 1) {
    report(at, `a json-logic operation is an object with exactly one key, the operator; found ${keys.length} keys`);
    return;
  }
  const operator = keys[0];
  if (!LOGIC_OPERATORS.has(operator)) {
    report([...at, operator], `unknown json-logic operator "${operator}"`, true);
    return;
  }
  checkLogic(logic[operator], [...at, operator], report);
}

function describeValue(value: unknown): string {
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return `a ${typeof value}`;
}
