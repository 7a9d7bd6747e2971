/** Ingest runs on one server (`bench`, `bench:compare`, `bench:scale`), and Switchboard's 200 rules for them. */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { checkAnswers, loadProblems, runAtFixedRate, runAtMaxThroughput, type LoadResult } from './load.ts';
import { formatNumber } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import type { Credentials, ServerProcess } from './setup.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

/** Requests in flight in the max-throughput runs, and the fixed-rate runs' events/s. */
export const CONNECTIONS = 16;
export const RATE = 1000;
const RULE_COUNT = 200;
const SHIPPED_RULES = 'rules/session-status.yaml';
// A ceiling on a server's rate, to size the warm-up's deliveries; the warm-up then sizes the real runs'.
const WARMUP_DELIVERIES_PER_SECOND = 20_000;
const MIN_POOL_PER_SECOND = 5_000;

export type IngestLoad = { duration: number; warmupSeconds: number; credentials: Credentials };

/**
 * A server's runs, taken when its turn comes. The warm-up also sizes the pool of deliveries each max-throughput run
 * signs. `isSwitchboard`: its answers must also show the path measured, new events whose every action succeeded.
 */
export function ingestRuns(name: string, server: ServerProcess, load: IngestLoad, isSwitchboard: boolean) {
  const check = isSwitchboard ? checkAnswers('succeeded') : undefined;
  const source = createEventSource();
  const problems: string[] = [];
  const runs = { max: [] as LoadResult[], fixed: [] as LoadResult[] };
  let poolSize = 0;
  // Each run's deliveries are referenced by that run only: the ones before are collected before it starts.
  const sign = (count: number) => signBeforeRun(source, count, load.credentials, true);
  const checked = (run: string, result: LoadResult) => {
    problems.push(...loadProblems(result, `${run} run`));
    return result;
  };
  // Three times the fastest rate seen (a warm-up is cold, and the machine's speed drifts between rounds): a run
  // fails rather than repeat a delivery.
  const growPool = ({ eventsPerSecond }: LoadResult) => {
    poolSize = Math.max(poolSize, Math.ceil(Math.max(3 * eventsPerSecond, MIN_POOL_PER_SECOND) * load.duration) + 2000);
  };
  const atMax = async (run: string, duration: number, count: number) =>
    checked(run, await runAtMaxThroughput({ server, connections: CONNECTIONS, duration, deliveries: await sign(count), inspect: check?.inspect }));
  return {
    name,
    runs,
    async warmUp() {
      const warmup = await atMax('warm-up', load.warmupSeconds, WARMUP_DELIVERIES_PER_SECOND * load.warmupSeconds);
      growPool(warmup);
    },
    async atMaxThroughput() {
      const run = await atMax('max-throughput', load.duration, poolSize);
      runs.max.push(run);
      growPool(run);
      return run;
    },
    async atFixedRate() {
      const deliveries = await sign(Math.round(RATE * load.duration));
      runs.fixed.push(checked('fixed-rate', await runAtFixedRate({ servers: [server], rate: RATE, deliveries, inspect: check?.inspect })));
      return runs.fixed.at(-1)!;
    },
    problems: () => [...problems, ...(check?.problems() ?? [])].map((problem) => `${name}: ${problem}`),
  };
}

/** One Switchboard's warm-up, max-throughput run and fixed-rate run; `problems` gets what went wrong, named. */
export async function measureIngest(name: string, server: ServerProcess, load: IngestLoad, problems: string[]) {
  const runs = ingestRuns(name, server, load, true);
  try {
    await runs.warmUp();
    return { max: await runs.atMaxThroughput(), fixed: await runs.atFixedRate() };
  } finally {
    problems.push(...runs.problems());
  }
}

/** The benchmark's rules, written into `<workDir>/rules` and loaded once to check them and say what events match. */
export async function writeBenchRules(workDir: string, checkout: string): Promise<{ rulesDir: string; rulesNote: string }> {
  const dir = join(workDir, 'rules');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(checkout, SHIPPED_RULES), join(dir, 'session-status.yaml'));
  const plugins = (await loadPlugins('')).specs(); // the built-in plugins
  const shipped = await loadRules({ dir, plugins, env: {} });
  writeRuleFiles(dir, generateRules(RULE_COUNT - shipped.rules.length));
  const ruleSet = await loadRules({ dir, plugins, env: {} });
  const source = createEventSource();
  const counts = Array.from({ length: 1200 }, () => ruleSet.match(buildContext(source.next())).length);
  const mean = counts.reduce((sum, n) => sum + n, 0) / counts.length;
  const rulesNote =
    `${ruleSet.rules.length} rules (${shipped.rules.length} from ${SHIPPED_RULES}, the rest generated); each event matches ` +
    `${Math.min(...counts)}–${Math.max(...counts)} (mean ${formatNumber(mean, 1)}) and runs as many inline status actions`;
  return { rulesDir: dir, rulesNote };
}
