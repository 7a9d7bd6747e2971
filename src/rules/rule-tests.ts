/**
 * Unit tests for rules, in the spirit of `promtool test rules`: files under `<rules dir>/tests/` name a sample
 * event (optionally with fields merged over it) and the rules and actions it must produce.
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { EventContext, LiveKitEvent } from '../livekit/event-types.ts';
import { isPlainObject } from '../plain-object.ts';
import { checkDocument, type DocumentKind } from './document/check.ts';
import type { Environment } from './document/env.ts';
import { readYamlTree, RULE_TESTS_DIR } from './document/files.ts';
import { ruleTestFileErrors } from './document/schema.ts';
import type { RuleSource } from './document/source.ts';
import { rulesInvalid } from './problems.ts';
import type { RuleProblem, RuleSet, SourceLocation } from './types.ts';

interface ExpectedAction {
  rule: string;
  plugin: string;
  /** When given, the rendered params must deep-equal these. */
  params?: Record<string, unknown>;
}

interface RuleTest extends SourceLocation {
  name: string;
  /** A sample event name, or fields deep-merged onto the sample named by their `event`. */
  event: string | (Partial<LiveKitEvent> & { event: string });
  expect: {
    /** Exactly these rule ids, in order. */
    matched: string[];
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

/** Where test events come from; the caller wires in the LiveKit samples and context building. */
export interface TestEvents {
  sampleFor(eventName: string): LiveKitEvent | undefined;
  buildContext(event: LiveKitEvent): EventContext;
  /** Params as a difference prints them: the command line hides credentials as the admin API does. */
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
    const { items, locate } = checkDocument(source, RULE_TEST_FILE, env, problems);
    for (const { item, index, wellFormed } of items) {
      if (wellFormed) tests.push({ ...(item as Omit<RuleTest, keyof SourceLocation>), ...locate(['tests', index]) });
    }
  }
  if (problems.length > 0) throw rulesInvalid(problems);
  return tests;
}

export function runRuleTests(ruleSet: RuleSet, tests: readonly RuleTest[], events: TestEvents): RuleTestResult[] {
  return tests.map((test) => {
    const differences = runRuleTest(ruleSet, test, events);
    const { name, file, line, column } = test;
    return { name, file, line, column, passed: differences.length === 0, differences };
  });
}

function runRuleTest(ruleSet: RuleSet, test: RuleTest, events: TestEvents): string[] {
  const eventName = typeof test.event === 'string' ? test.event : test.event.event;
  const sample = events.sampleFor(eventName);
  if (sample === undefined && typeof test.event === 'string') return [`no sample event named "${eventName}"`];
  const event = typeof test.event === 'string' ? sample : mergeOnto(sample ?? {}, test.event);
  const context = events.buildContext(event as LiveKitEvent);

  const differences: string[] = [];
  const matched = ruleSet.match(context);
  const matchedIds = matched.map((rule) => rule.id);
  if (!isDeepStrictEqual(matchedIds, test.expect.matched)) {
    differences.push(`matched ${formatList(matchedIds)}, expected ${formatList(test.expect.matched)}`);
  }

  const actions: ExpectedAction[] = [];
  for (const rule of matched) {
    for (const action of rule.actions) {
      try {
        actions.push({ rule: rule.id, plugin: action.plugin, params: action.render(context) });
      } catch (error) {
        differences.push((error as Error).message);
      }
    }
  }
  for (const expected of test.expect.actions ?? []) {
    const same = actions.filter((action) => action.rule === expected.rule && action.plugin === expected.plugin);
    if (same.length === 0) {
      differences.push(`expected an action of rule "${expected.rule}" with plugin "${expected.plugin}"; there is none`);
    } else if (expected.params !== undefined && !same.some((action) => isDeepStrictEqual(action.params, expected.params))) {
      const show = (params: unknown) => JSON.stringify(events.showParams ? events.showParams(params) : params);
      const rendered = same.map((action) => show(action.params)).join(' or ');
      differences.push(`rule "${expected.rule}", plugin "${expected.plugin}": expected params ${show(expected.params)}, rendered ${rendered}`);
    }
  }
  return differences;
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
