/**
 * The ingest load on one server (`bench`, `bench:compare`, `bench:scale`): a warm-up, then per round a
 * max-throughput run and a fixed-rate run, each on deliveries signed just before it. Also the benchmark's
 * Switchboard rules: the shipped status rules plus generated ones, 200 in all.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult, type ResponseInspector } from './load.ts';
import { formatNumber } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import type { Credentials, ServerProcess } from './server-process.ts';
import { createEventSource, signBeforeRun } from './webhook-events.ts';

const RULE_COUNT = 200;
const SHIPPED_RULES = 'rules/session-status.yaml';
// A ceiling on a server's rate, to size the warm-up's deliveries; the warm-up then sizes the real runs'.
const WARMUP_DELIVERIES_PER_SECOND = 20_000;
const MIN_POOL_PER_SECOND = 5_000;

/** `connections`: of the max-throughput runs; `rate`: of the fixed-rate runs, events/s. */
export type IngestLoad = { connections: number; rate: number; duration: number; warmupSeconds: number; credentials: Credentials };

export type ServerInTurn = ReturnType<typeof serverInTurn>;

/**
 * A server's runs, taken when its turn comes. The warm-up also sizes the pool of deliveries each max-throughput run
 * signs. `isSwitchboard`: its answers must also show the path measured, new events whose every action succeeded.
 */
export function serverInTurn(name: string, server: ServerProcess, load: IngestLoad, isSwitchboard: boolean) {
  const check = isSwitchboard ? checkSwitchboardAnswers() : undefined;
  const source = createEventSource();
  const target = { url: server.url, serverPid: server.pid, inspect: check?.inspect };
  const problems: string[] = [];
  const runs = { max: [] as LoadResult[], fixed: [] as LoadResult[] };
  let poolSize = 0;
  // Each run's deliveries are referenced by that run only: the ones before are collected before it starts.
  const sign = (count: number) => signBeforeRun(source, count, load.credentials, true);
  const checked = (run: string, result: LoadResult) => {
    if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses in the ${run} run`);
    if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts in the ${run} run`);
    return result;
  };
  const atMax = async (run: string, duration: number, count: number) =>
    checked(run, await runAtMaxThroughput({ ...target, connections: load.connections, duration, deliveries: await sign(count) }));
  return {
    name,
    pid: server.pid,
    runs,
    async warmUp() {
      const warmup = await atMax('warm-up', load.warmupSeconds, WARMUP_DELIVERIES_PER_SECOND * load.warmupSeconds);
      // Three times the warmed-up rate (a warm-up is cold, and may be disturbed): a run fails rather than repeat one.
      poolSize = Math.ceil(Math.max(3 * warmup.eventsPerSecond, MIN_POOL_PER_SECOND) * load.duration) + 2000;
    },
    async atMaxThroughput() {
      const max = await atMax('max-throughput', load.duration, poolSize);
      runs.max.push(max);
      return max;
    },
    async atFixedRate() {
      const deliveries = await sign(Math.round(load.rate * load.duration));
      const fixed = checked('fixed-rate', await runAtFixedRate({ ...target, rate: load.rate, duration: load.duration, deliveries }));
      runs.fixed.push(fixed);
      return fixed;
    },
    problems: () => [...problems, ...(check?.problems() ?? [])],
    stop: () => server.stop(),
  };
}

/** One Switchboard's warm-up, max-throughput run and fixed-rate run; `problems` gets what went wrong, named. */
export async function measureIngest(name: string, server: ServerProcess, load: IngestLoad, problems: string[]): Promise<{ max: LoadResult; fixed: LoadResult }> {
  const inTurn = serverInTurn(name, server, load, true);
  try {
    await inTurn.warmUp();
    return { max: await inTurn.atMaxThroughput(), fixed: await inTurn.atFixedRate() };
  } finally {
    problems.push(...inTurn.problems().map((problem) => `${name}: ${problem}`));
  }
}

function checkSwitchboardAnswers(): { inspect: ResponseInspector; problems(): string[] } {
  let duplicates = 0;
  let failedActions = 0;
  let firstFailure: string | undefined;
  return {
    inspect(status, body) {
      if (status < 200 || status >= 300) return;
      const { results } = JSON.parse(body);
      if (results.duplicate) duplicates++;
      for (const action of results.actions) {
        if (action.status === 'succeeded') continue;
        failedActions++;
        firstFailure ??= JSON.stringify(action);
      }
    },
    problems: () => [
      ...(duplicates > 0 ? [`${duplicates} deliveries were taken for duplicates`] : []),
      ...(failedActions > 0 ? [`${failedActions} actions failed, the first: ${firstFailure}`] : []),
    ],
  };
}

/** Writes the benchmark's rules into `dir` and loads them once, to check them and say what each event matches. */
export async function writeBenchRules(dir: string, checkout: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(checkout, SHIPPED_RULES), join(dir, 'session-status.yaml'));
  const plugins = (await loadPlugins('')).specs(); // the built-in plugins
  const shipped = await loadRules({ dir, plugins, env: {} });
  writeRuleFiles(dir, generateRules(RULE_COUNT - shipped.rules.length));
  const ruleSet = await loadRules({ dir, plugins, env: {} });
  const source = createEventSource();
  const counts = Array.from({ length: 1200 }, () => ruleSet.match(buildContext(source.next())).length);
  const mean = counts.reduce((sum, n) => sum + n, 0) / counts.length;
  return (
    `${ruleSet.rules.length} rules (${shipped.rules.length} from ${SHIPPED_RULES}, the rest generated); each event matches ` +
    `${Math.min(...counts)}–${Math.max(...counts)} (mean ${formatNumber(mean, 1)}) and runs as many inline status actions`
  );
}
