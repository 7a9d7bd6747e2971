/**
 * The generated rules as json-rules-engine rules, condition for condition, for the rule-matching comparison.
 * One Engine holds every rule; a rule's event type is its id. The event is the runtime fact `webhook`.
 */
import { Engine, type TopLevelCondition } from 'json-rules-engine';
import type { Condition, RuleSpec } from './rule-corpus.ts';

interface Leaf {
  fact: 'webhook';
  path: string;
  operator: string;
  value: unknown;
}

type JreCondition = TopLevelCondition | Leaf;

export function createJsonRulesEngine(rules: readonly RuleSpec[]): Engine {
  // Dotted paths read directly: the default JSONPath resolver would make json-rules-engine far slower still.
  const segmentsOf = new Map<string, string[]>();
  const engine = new Engine([], {
    allowUndefinedFacts: true,
    pathResolver(value, path) {
      let segments = segmentsOf.get(path);
      if (segments === undefined) segmentsOf.set(path, (segments = path.split('.')));
      let current: unknown = value;
      for (const segment of segments) {
        if (current === null || typeof current !== 'object') return undefined;
        current = (current as Record<string, unknown>)[segment];
      }
      return current;
    },
  });
  // Switchboard's prefix globs (`egress_*`, `tenant-7-*`) and json-logic's string `in`.
  engine.addOperator<unknown, string>('startsWith', (fact, prefix) => typeof fact === 'string' && fact.startsWith(prefix));
  engine.addOperator<unknown, string>('contains', (fact, part) => typeof fact === 'string' && fact.includes(part));

  for (const rule of rules) {
    const all: JreCondition[] = [anyOf(rule.on.map((pattern) => stringTest('event', pattern)))];
    for (const [path, pattern] of Object.entries(rule.filter)) all.push(stringTest(path, pattern));
    if (rule.when !== undefined) all.push(conditionFrom(rule.when));
    engine.addRule({ name: rule.id, conditions: { all }, event: { type: rule.id } });
  }
  return engine;
}

/** The ids of the rules that match, as json-rules-engine decides. */
export async function matchingRuleIds(engine: Engine, context: object): Promise<string[]> {
  const { events } = await engine.run({ webhook: context });
  return events.map((event) => event.type);
}

function anyOf(conditions: JreCondition[]): JreCondition {
  return conditions.length === 1 ? conditions[0] : { any: conditions };
}

/** An exact string, or a prefix glob `<prefix>*`: the only glob shape the generator writes. */
function stringTest(path: string, pattern: string): Leaf {
  const star = pattern.indexOf('*');
  if (star === -1) return { fact: 'webhook', path, operator: 'equal', value: pattern };
  if (star !== pattern.length - 1) throw new Error(`no json-rules-engine equivalent for the glob "${pattern}"`);
  return { fact: 'webhook', path, operator: 'startsWith', value: pattern.slice(0, -1) };
}

function conditionFrom(condition: Condition): JreCondition {
  if ('and' in condition) return { all: condition.and.map(conditionFrom) };
  if ('in' in condition) {
    const [part, { var: path }] = condition.in;
    return { fact: 'webhook', path, operator: 'contains', value: part };
  }
  if ('==' in condition) {
    const [{ var: path }, value] = condition['=='];
    return { fact: 'webhook', path, operator: 'equal', value };
  }
  const [{ var: path }, value] = condition['>'];
  return { fact: 'webhook', path, operator: 'greaterThan', value };
}
