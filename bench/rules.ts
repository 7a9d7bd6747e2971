/**
 * `npm run bench:rules`: how fast 1,000 compiled rules find the matches for an event, one event at a time, against
 * json-rules-engine holding the same rules; both must agree on every event before anything is timed.
 * Flags: --quick (0.5 s of matching per engine instead of 3 s).
 */
import { Engine, type TopLevelCondition } from 'json-rules-engine';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { readFlags } from './flags.ts';
import { describeRun, formatNumber, printReport, verdict } from './report.ts';
import { generateRules, tenantRoom, writeRuleFiles } from './rule-corpus.ts';
import { prepareRun } from './setup.ts';
import { createEventSource } from './webhook-events.ts';

const RULE_COUNT = 1000;
const EVENT_COUNT = 2400;
const SPEEDUP_TARGET = 20;
const seconds = readFlags([], ['quick']).on('quick') ? 0.5 : 3;

// Every third round of events is in rooms of tenants some rule listens to, so tenant rules match too.
const source = createEventSource({ room: (n, eventName, round) => (round % 3 === 1 ? tenantRoom(eventName, round, RULE_COUNT) : `session-${n}`) });
const contexts = Array.from({ length: EVENT_COUNT }, () => buildContext(source.next()));
const { workDir } = prepareRun('rules');
const rules = generateRules(RULE_COUNT);
writeRuleFiles(workDir, rules);
const ruleSet = await loadRules({ dir: workDir, plugins: (await loadPlugins('')).specs(), env: {} });
const engine = createJsonRulesEngine(rules);

// The comparison means something only if both engines find the same matches for every event.
let matches = 0;
for (const context of contexts) {
  const ours = ruleSet.match(context).map((rule) => rule.id).sort().join();
  const theirs = (await engine.run({ webhook: context })).events.map((event) => event.type).sort().join();
  if (ours !== theirs) throw new Error(`the engines disagree on ${context.id} (${context.event}): Switchboard [${ours}], json-rules-engine [${theirs}]`);
  matches += ruleSet.match(context).length;
}

const foreignCpu = startForeignCpuMeter([process.pid]);
const rate = await eventsPerSecond(256, (i) => ruleSet.match(contexts[i % contexts.length]));
// Awaiting each event before the next, as a webhook handler would.
const jreRate = await eventsPerSecond(16, (i) => engine.run({ webhook: contexts[i % contexts.length] }));
const speedup = rate / jreRate;

const header = [
  describeRun('bench:rules'),
  `${ruleSet.rules.length} rules, ${contexts.length} distinct events over ${new Set(contexts.map((c) => c.event)).size} event names; ` +
    `both engines agree on all of them (${formatNumber(matches / contexts.length, 2)} matching rules per event on average); ` +
    `${seconds} s of matching per engine, one event at a time.`,
];
const table = [
  ['engine', 'events matched/s', 'µs/event'],
  ['Switchboard (loadRules → ruleSet.match)', formatNumber(rate), formatNumber(1e6 / rate, 1)],
  ['json-rules-engine 7 (engine.run)', formatNumber(jreRate), formatNumber(1e6 / jreRate, 1)],
];
printReport(header, [table], [
  `Speed-up: ${formatNumber(speedup, 1)}× (target ≥ ${SPEEDUP_TARGET}×: ${verdict(speedup >= SPEEDUP_TARGET)})`,
  describeForeignCpu(foreignCpu.read(), 'while matching was timed'),
]);

/** Events per second over at least `seconds`, checking the clock every `step` events. */
async function eventsPerSecond(step: number, matchOne: (i: number) => unknown): Promise<number> {
  const start = performance.now();
  let i = 0;
  let elapsed = 0;
  do {
    for (const end = i + step; i < end; i++) {
      const result = matchOne(i);
      if (result instanceof Promise) await result;
    }
    elapsed = performance.now() - start;
  } while (elapsed < seconds * 1000);
  return i / (elapsed / 1000);
}

type Leaf = { fact: 'webhook'; path: string; operator: string; value: unknown };
type JreCondition = TopLevelCondition | Leaf;
type Condition = Record<string, unknown>;

/**
 * The generated rules as json-rules-engine rules, condition for condition. One Engine holds every rule; a rule's
 * event type is its id; the event is the runtime fact `webhook`.
 */
function createJsonRulesEngine(rules: readonly Record<string, unknown>[]): Engine {
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
