/**
 * `npm run bench:rules`: how fast 1,000 compiled rules find the matches for an event, one event at a time.
 * Flags: --quick (0.5 s of matching instead of 3 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { describeForeignCpu, startForeignCpuMeter } from './cpu-usage.ts';
import { readFlags } from './flags.ts';
import { describeRun, formatNumber, printReport } from './report.ts';
import { generateRules, tenantRoom, writeRuleFiles } from './rule-corpus.ts';
import { createEventSource } from './webhook-events.ts';

const RULE_COUNT = 1000;
const EVENT_COUNT = 2400;
const seconds = readFlags([], ['quick']).on('quick') ? 0.5 : 3;

// Every third round of events is in rooms of tenants some rule listens to, so tenant rules match too.
const source = createEventSource({ room: (n, eventName, round) => (round % 3 === 1 ? tenantRoom(eventName, round, RULE_COUNT) : `session-${n}`) });
const contexts = Array.from({ length: EVENT_COUNT }, () => buildContext(source.next()));
const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-rules-'));
const ruleSet = await (async () => {
  try {
    writeRuleFiles(dir, generateRules(RULE_COUNT));
    return await loadRules({ dir, plugins: (await loadPlugins(resolve(import.meta.dirname, '..', 'plugins'))).specs(), env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
const matches = contexts.reduce((sum, context) => sum + ruleSet.match(context).length, 0);

// Events per second over at least `seconds`, checking the clock every 256 events.
const foreignCpu = startForeignCpuMeter([process.pid]);
const start = performance.now();
let matched = 0;
let elapsed = 0;
do {
  for (const end = matched + 256; matched < end; matched++) ruleSet.match(contexts[matched % contexts.length]);
  elapsed = performance.now() - start;
} while (elapsed < seconds * 1000);
const rate = matched / (elapsed / 1000);

const header = [
  describeRun('bench:rules'),
  `${ruleSet.rules.length} rules, ${contexts.length} distinct events over ${new Set(contexts.map((c) => c.event)).size} event names ` +
    `(${formatNumber(matches / contexts.length, 2)} matching rules per event on average); ${seconds} s of matching, one event at a time.`,
];
console.log(header.join('\n'));
printReport(header, [[['engine', 'events matched/s', 'µs/event'], ['Switchboard (loadRules → ruleSet.match)', formatNumber(rate), formatNumber(1e6 / rate, 1)]]], [
  describeForeignCpu(foreignCpu.read(), 'while matching was timed'),
]);
