/**
 * The generated rules as json-rules-engine rules, condition for condition, for the rule-matching comparison. One
 * Engine holds every rule; a rule's event type is its id; the event is the runtime fact `webhook`.
 */
import { Engine, type TopLevelCondition } from 'json-rules-engine';

type Leaf = { fact: 'webhook'; path: string; operator: string; value: unknown };
type JreCondition = TopLevelCondition | Leaf;
type Condition = Record<string, unknown>;

export function createJsonRulesEngine(rules: readonly Record<string, unknown>[]): Engine {
  // Dotted paths read directly: the default JSONPath resolver would make json-rules-engine far slower still.
  const engine = new Engine([], {
    allowUndefinedFacts: true,
    pathResolver: (value, path) =>
      path.split('.').reduce<unknown>((current, key) => (current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined), value),
  });
  // Switchboard's prefix globs (`egress_*`, `tenant-7-*`) and json-logic's string `in`.
  engine.addOperator<unknown, string>('startsWith', (fact, prefix) => typeof fact === 'string' && fact.startsWith(prefix));
  engine.addOperator<unknown, string>('contains', (fact, part) => typeof fact === 'string' && fact.includes(part));
  for (const rule of rules) {
    const on = ([] as string[]).concat(rule.on as string | string[]).map((pattern) => stringTest('event', pattern));
    const all: JreCondition[] = [on.length === 1 ? on[0] : { any: on }];
    for (const [path, pattern] of Object.entries(rule.filter as Record<string, string>)) all.push(stringTest(path, pattern));
    if (rule.when !== undefined) all.push(conditionFrom(rule.when as Condition));
    engine.addRule({ name: rule.id as string, conditions: { all }, event: { type: rule.id as string } });
  }
  return engine;
}

/** The ids of the rules that match, as json-rules-engine decides. */
export async function matchingRuleIds(engine: Engine, context: object): Promise<string[]> {
  return (await engine.run({ webhook: context })).events.map((event) => event.type);
}

/** An exact string, or a prefix glob `<prefix>*`: the only glob shape the generator writes. */
function stringTest(path: string, pattern: string): Leaf {
  if (!pattern.includes('*')) return { fact: 'webhook', path, operator: 'equal', value: pattern };
  if (pattern.indexOf('*') !== pattern.length - 1) throw new Error(`no json-rules-engine equivalent for the glob "${pattern}"`);
  return { fact: 'webhook', path, operator: 'startsWith', value: pattern.slice(0, -1) };
}

function conditionFrom(condition: Condition): JreCondition {
  const [[operator, operands]] = Object.entries(condition) as [[string, unknown[]]];
  if (operator === 'and') return { all: operands.map((operand) => conditionFrom(operand as Condition)) };
  if (operator === 'in') return { fact: 'webhook', path: (operands[1] as { var: string }).var, operator: 'contains', value: operands[0] };
  const jreOperator = { '==': 'equal', '>': 'greaterThan' }[operator];
  if (jreOperator === undefined) throw new Error(`no json-rules-engine equivalent for the json-logic "${operator}"`);
  return { fact: 'webhook', path: (operands[0] as { var: string }).var, operator: jreOperator, value: operands[1] };
}
