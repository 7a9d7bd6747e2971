/**
 * Unit tests for rules, in the spirit of `promtool test rules`: files under `<rules dir>/tests/` name a sample
 * event (optionally with fields merged over it, at a fixed `now`) and the rules, actions and usage it must produce.
 * What the actions would do comes from the engine's dry run, wired in by the caller (TestEvents.preview).
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { EventContext, LiveKitEvent } from '../livekit/event-types.ts';
import type { ActionMode } from '../plugins/contract.ts';
import { isPlainObject } from '../plain-object.ts';
import type { NodePath } from '../schema-issues.ts';
import { checkDocument, type DocumentKind } from './document/check.ts';
import type { Environment } from './document/env.ts';
import { readYamlTree, RULE_TESTS_DIR } from './document/files.ts';
import { ruleTestFileErrors } from './document/schema.ts';
import type { RuleSource } from './document/source.ts';
import { rulesInvalid } from './problems.ts';
import type { CompiledRule, RuleProblem, RuleSet, SourceLocation } from './types.ts';

/** The id of a test's sample event: fixed, so that what renders or bills from it is the same every run. */
export const RULE_TEST_EVENT_ID = 'EV_rule_test';

/** One usage an action's `prepare` would record in the ledger, named as the admin API's usage records. */
export interface UsagePreview {
  identifier: string;
  customer: string;
  meter: string;
  quantity: number;
  unit: string;
  /** ISO 8601. */
  occurred_at: string;
}

/** What one action of a matched rule would do with an event, found without doing it (src/engine/dry-run.ts). */
export interface ActionPreview {
  rule: string;
  index: number;
  plugin: string;
  mode: ActionMode;
  /** Its `with:` rendered for the event; absent when rendering failed. */
  params?: Record<string, unknown>;
  /** What the plugin's `prepare` makes of the params, which a delivery would carry; absent without a `prepare`. */
  prepared?: Record<string, unknown>;
  /** What `prepare` would record in the usage ledger, in order. */
  usage: UsagePreview[];
  /** Why the action would fail before it runs: rendering, the plugin's params schema, or its `prepare`. */
  error?: { code: string; message: string };
}

interface ExpectedAction {
  rule: string;
  plugin: string;
  /** The rendered params must have these keys with these values (nested objects alike; lists compare whole). */
  params?: Record<string, unknown>;
  /** The usage records `prepare` writes, in order, each with the fields given. */
  usage?: Partial<UsagePreview>[];
  /** The action fails with this error code. */
  error?: string;
}

/** A list of rule ids means `exactly` (in the order they match). */
type MatchedExpectation = string[] | { exactly: string[] } | { includes: string[] };

interface RuleTest extends SourceLocation {
  name: string;
  /** The sample's `createdAt` (its other times move with it) instead of the clock's now. */
  now?: Date;
  /** A sample event name, or fields deep-merged onto the sample named by their `event`. */
  event: string | (Partial<LiveKitEvent> & { event: string });
  expect: {
    matched: MatchedExpectation;
    /** Each must be among the actions of the matched rules. */
    actions?: ExpectedAction[];
  };
}

interface RuleTestResult extends SourceLocation {
  name: string;
  passed: boolean;
  /** What differed from the expectation, one readable line each; empty when passed. */
  differences: string[];
}

/** Where test events come from and what their actions would do; the caller wires in the samples and the engine. */
export interface TestEvents {
  sampleFor(eventName: string, at: { now?: Date; id: string }): LiveKitEvent | undefined;
  buildContext(event: LiveKitEvent): EventContext;
  /** Each action of `rules` as it would run on the event, with no side effects. */
  preview(rules: readonly CompiledRule[], event: { event: LiveKitEvent; eventId: string; context: EventContext }): Promise<ActionPreview[]>;
  /** Values as a difference prints them: the command line hides credentials as the admin API does. */
  showParams?(params: unknown): unknown;
}

const RULE_TEST_FILE: DocumentKind = { listKey: 'tests', itemName: 'test', schemaErrors: ruleTestFileErrors };

/**
 * Reads every test file under `<rulesDir>/tests/` (none there: no tests). Throws E_RULES_INVALID listing every
 * problem with file, line and column.
 * @example const tests = await loadRuleTests('rules');
 */
export async function loadRuleTests(rulesDir: string, options: { env?: Environment } = {}): Promise<RuleTest[]> {
  const sources = await readYamlTree(path.join(rulesDir, RULE_TESTS_DIR));
  return compileRuleTestSources({ sources: sources ?? [], env: options.env ?? {} });
}

/** Validates rule test files given as text. */
export function compileRuleTestSources({ sources, env }: { sources: readonly RuleSource[]; env: Environment }): RuleTest[] {
  const problems: RuleProblem[] = [];
  const tests: RuleTest[] = [];
  for (const source of sources) {
    const { items, locate, report } = checkDocument(source, RULE_TEST_FILE, env, problems);
    for (const { item, index, wellFormed } of items) {
      if (!wellFormed) continue;
      const { now, ...written } = item as Omit<RuleTest, keyof SourceLocation | 'now'> & { now?: string };
      const at = now === undefined ? undefined : new Date(now);
      const problem = at !== undefined && Number.isNaN(at.getTime())
        ? { path: ['tests', index, 'now'], message: `now "${now}" is not a valid time` }
        : matchedProblem(written.expect.matched, ['tests', index, 'expect', 'matched']);
      if (problem) report(problem.path, problem.message);
      else tests.push({ ...written, ...(at && { now: at }), ...locate(['tests', index]) });
    }
  }
  if (problems.length > 0) throw rulesInvalid(problems);
  return tests;
}

function matchedProblem(matched: MatchedExpectation, path: NodePath): { path: NodePath; message: string } | undefined {
  if (Array.isArray(matched) || Object.keys(matched).length === 1) return undefined;
  return { path, message: 'matched takes a list of rule ids, or one of exactly: and includes:' };
}

export async function runRuleTests(ruleSet: RuleSet, tests: readonly RuleTest[], events: TestEvents): Promise<RuleTestResult[]> {
  const results: RuleTestResult[] = [];
  for (const test of tests) {
    const differences = await runRuleTest(ruleSet, test, events);
    const { name, file, line, column } = test;
    results.push({ name, file, line, column, passed: differences.length === 0, differences });
  }
  return results;
}

async function runRuleTest(ruleSet: RuleSet, test: RuleTest, events: TestEvents): Promise<string[]> {
  const eventName = typeof test.event === 'string' ? test.event : test.event.event;
  const sample = events.sampleFor(eventName, { now: test.now, id: RULE_TEST_EVENT_ID });
  if (sample === undefined && typeof test.event === 'string') return [`no sample event named "${eventName}"`];
  const event = (typeof test.event === 'string' ? sample : mergeOnto(sample ?? {}, test.event)) as LiveKitEvent;
  const context = events.buildContext(event);

  const matched = ruleSet.match(context);
  const differences = matchedDifferences(matched.map((rule) => rule.id), test.expect.matched);
  const actions = await events.preview(matched, { event, eventId: event.id ?? RULE_TEST_EVENT_ID, context });
  const expected = test.expect.actions ?? [];
  // A failure is reported once, here, unless the test expects it: it is what the engine would do with the event.
  for (const action of actions) {
    const { error } = action;
    if (error && !expected.some((wanted) => isActionOf(action, wanted) && wanted.error === error.code)) {
      differences.push(`${actionName(action)}: fails with ${error.code}: ${error.message}`);
    }
  }
  const redact = events.showParams ?? ((value: unknown) => value);
  for (const wanted of expected) differences.push(...expectedActionDifferences(wanted, actions, redact));
  return differences;
}

function matchedDifferences(matchedIds: string[], expected: MatchedExpectation): string[] {
  if (!Array.isArray(expected) && 'includes' in expected) {
    const missing = expected.includes.filter((id) => !matchedIds.includes(id));
    return missing.length === 0 ? [] : [`matched ${formatList(matchedIds)}, which does not include ${formatList(missing)}`];
  }
  const exactly = Array.isArray(expected) ? expected : expected.exactly;
  return isDeepStrictEqual(matchedIds, exactly) ? [] : [`matched ${formatList(matchedIds)}, expected ${formatList(exactly)}`];
}

/** Nothing when an action of the rule and plugin is as expected; otherwise how each of them differs. */
function expectedActionDifferences(wanted: ExpectedAction, actions: readonly ActionPreview[], redact: (value: unknown) => unknown): string[] {
  const candidates = actions.filter((action) => isActionOf(action, wanted));
  if (candidates.length === 0) return [`expected an action of rule "${wanted.rule}" with plugin "${wanted.plugin}"; there is none`];
  const verdicts = candidates.map((action) => actionDifferences(wanted, action, redact, candidates.length > 1));
  return verdicts.some((verdict) => verdict.holds) ? [] : verdicts.flatMap((verdict) => verdict.lines);
}

/** Whether `action` is as `wanted` says, and the lines saying how not (none for a failure reported already). */
function actionDifferences(
  wanted: ExpectedAction,
  action: ActionPreview,
  redact: (value: unknown) => unknown,
  withIndex: boolean,
): { holds: boolean; lines: string[] } {
  const name = actionName(action, withIndex);
  if (wanted.error !== undefined) {
    if (action.error?.code === wanted.error) return { holds: true, lines: [] };
    const got = action.error ? `it fails with ${action.error.code}: ${action.error.message}` : 'it does not fail';
    return { holds: false, lines: [`${name}: expected to fail with ${wanted.error}, ${got}`] };
  }
  if (action.error) return { holds: false, lines: [] };
  const lines = [
    ...(wanted.params === undefined ? [] : describeDifferences('params', wanted.params, action.params, 'rendered', redact)),
    ...(wanted.usage === undefined ? [] : describeDifferences('usage', wanted.usage, action.usage, 'recorded', redact, true)),
  ].map((line) => `${name}: ${line}`);
  return { holds: lines.length === 0, lines };
}

function isActionOf(action: ActionPreview, wanted: ExpectedAction): boolean {
  return action.rule === wanted.rule && action.plugin === wanted.plugin;
}

function actionName(action: ActionPreview, withIndex = false): string {
  return `rule "${action.rule}", plugin "${action.plugin}"${withIndex ? ` (action ${action.index})` : ''}`;
}

type KeyPath = (string | number)[];

/**
 * Where `actual` differs from `expected`, comparing only the keys `expected` has, object by object. Lists compare
 * whole, unless `listByItem` (the usage records): then as many items, each compared by the keys it gives.
 */
function differingPaths(expected: unknown, actual: unknown, at: KeyPath, listByItem: boolean): KeyPath[] {
  if (isPlainObject(expected) && isPlainObject(actual)) {
    return Object.entries(expected).flatMap(([key, value]) =>
      Object.hasOwn(actual, key) ? differingPaths(value, actual[key], [...at, key], false) : [[...at, key]],
    );
  }
  if (listByItem && Array.isArray(expected) && Array.isArray(actual) && expected.length === actual.length) {
    return expected.flatMap((item, index) => differingPaths(item, actual[index], [...at, index], false));
  }
  return isDeepStrictEqual(expected, actual) ? [] : [at];
}

/** One line per differing key path: `params.body.room: expected "a", rendered "b"`, values shown redacted. */
function describeDifferences(
  root: string,
  expected: unknown,
  actual: unknown,
  verb: string,
  redact: (value: unknown) => unknown,
  listByItem = false,
): string[] {
  // Redacted whole, then read at the path: what hides a value can depend on the keys above it (headers).
  const shownExpected = redact(expected);
  const shownActual = redact(actual);
  return differingPaths(expected, actual, [], listByItem).map((at) => {
    const found = valueAt(shownActual, at);
    const what = found.present ? `${verb} ${JSON.stringify(found.value)}` : `not ${verb}`;
    return `${formatPath(root, at)}: expected ${JSON.stringify(valueAt(shownExpected, at).value)}, ${what}`;
  });
}

function valueAt(value: unknown, at: KeyPath): { present: boolean; value?: unknown } {
  let current = value;
  for (const key of at) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return { present: false };
    current = (current as Record<string | number, unknown>)[key];
  }
  return { present: true, value: current };
}

function formatPath(root: string, at: KeyPath): string {
  return at.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    return /^[A-Za-z_$][\w$]*$/.test(key) ? `${text}.${key}` : `${text}[${JSON.stringify(key)}]`;
  }, root);
}

/** Objects merge key by key; anything else in `override` (lists included) replaces what the sample has. */
function mergeOnto(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = mergeOnto(base[key], value);
  return merged;
}

function formatList(ids: readonly string[]): string {
  return `[${ids.join(', ')}]`;
}
