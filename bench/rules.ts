/**
 * `npm run bench:rules`: how fast 1,000 compiled rules find the matches for an event, against json-rules-engine
 * holding the same rules. Both must agree on every event before anything is timed. Flags: --seconds <s> (time
 * per engine) --quick.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildContext } from '../src/livekit/event.ts';
import type { EventContext } from '../src/livekit/event-types.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import type { RuleSet } from '../src/rules/types.ts';
import { positiveNumber } from './flags.ts';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { createJsonRulesEngine, matchingRuleIds } from './json-rules-engine.ts';
import { describeRun, formatNumber, markdownTable, textTable, verdict } from './report.ts';
import { generateRules, tenantRoom, writeRuleFiles } from './rule-corpus.ts';
import { createEventSource } from './webhook-events.ts';

const RULE_COUNT = 1000;
const EVENT_COUNT = 2400;
const SPEEDUP_TARGET = 20;
const PLUGINS_DIR = resolve(import.meta.dirname, '..', 'plugins');

const { values: flags } = parseArgs({
  options: { seconds: { type: 'string' }, quick: { type: 'boolean', default: false } },
});
const seconds = positiveNumber('--seconds', flags.seconds ?? (flags.quick ? '0.5' : '3'));

const specs = generateRules(RULE_COUNT);
// Every third round of events is in rooms of tenants some rule listens to, so tenant rules match too.
const source = createEventSource({
  room: (n, eventName, round) => (round % 3 === 1 ? tenantRoom(eventName, round, RULE_COUNT) : `session-${n}`),
});
const contexts: EventContext[] = Array.from({ length: EVENT_COUNT }, () => buildContext(source.next()));

const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-rules-'));
let ruleSet: RuleSet;
try {
  writeRuleFiles(dir, specs);
  ruleSet = await loadRules({ dir, plugins: (await loadPlugins(PLUGINS_DIR)).specs(), env: {} });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const engine = createJsonRulesEngine(specs);

// The comparison means something only if both engines find the same matches for every event.
let matches = 0;
for (const context of contexts) {
  const ours = ruleSet.match(context).map((rule) => rule.id).sort();
  const theirs = (await matchingRuleIds(engine, context)).sort();
  if (ours.join() !== theirs.join()) {
    throw new Error(`the engines disagree on ${context.id} (${context.event}): Switchboard [${ours}], json-rules-engine [${theirs}]`);
  }
  matches += ours.length;
}

const foreignCpu = startForeignCpuMeter([process.pid]);
const switchboardRate = timeLoop(seconds, (i) => ruleSet.match(contexts[i % contexts.length]));
const jreRate = await timeLoopAsync(seconds, (i) => engine.run({ webhook: contexts[i % contexts.length] }));
const speedup = switchboardRate / jreRate;
const machineNote = describeForeignCpu(foreignCpu.read(), 'while matching was timed');

const rows = [
  ['engine', 'events matched/s', 'µs/event'],
  ['Switchboard (loadRules → ruleSet.match)', formatNumber(switchboardRate), formatNumber(1e6 / switchboardRate, 1)],
  ['json-rules-engine 7 (engine.run)', formatNumber(jreRate), formatNumber(1e6 / jreRate, 1)],
];
const target = `Speed-up: ${formatNumber(speedup, 1)}× (target ≥ ${SPEEDUP_TARGET}× faster: ${verdict(speedup >= SPEEDUP_TARGET)})`;

console.log(describeRun('bench:rules'));
console.log(
  `${ruleSet.rules.length} rules, ${contexts.length} distinct events over ${new Set(contexts.map((c) => c.event)).size} event names; ` +
    `both engines agree on all of them (${formatNumber(matches / contexts.length, 2)} matching rules per event on average). ` +
    `${seconds} s of matching per engine, one event at a time.`,
);
console.log(`\n${textTable(rows)}\n\n${target}\n${machineNote}`);
console.log('\nFor docs/performance.md:\n');
console.log(`${markdownTable(rows)}\n\n- ${target}\n- ${machineNote}`);

/** Events per second over at least `budget` seconds, checking the clock every 256 events. */
function timeLoop(budget: number, matchOne: (i: number) => unknown): number {
  const start = performance.now();
  let i = 0;
  let elapsed = 0;
  do {
    for (const end = i + 256; i < end; i++) matchOne(i);
    elapsed = performance.now() - start;
  } while (elapsed < budget * 1000);
  return i / (elapsed / 1000);
}

/** The same for an async matcher, awaiting each event before the next, as a webhook handler would. */
async function timeLoopAsync(budget: number, matchOne: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let i = 0;
  let elapsed = 0;
  do {
    for (const end = i + 16; i < end; i++) await matchOne(i);
    elapsed = performance.now() - start;
  } while (elapsed < budget * 1000);
  return i / (elapsed / 1000);
}
