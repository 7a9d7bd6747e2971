/**
 * The ingest load on one server, shared by `npm run bench` and `bench:compare`: a warm-up, then per round a
 * max-throughput run (closed loop) and a fixed-rate run (open loop), each on deliveries signed just before it.
 * Also the benchmark's Switchboard: the shipped status rules plus generated ones, 200 in all.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildContext } from '../src/livekit/event.ts';
import { loadPlugins } from '../src/plugins/registry.ts';
import { loadRules } from '../src/rules/load.ts';
import { runAtFixedRate, runAtMaxThroughput, type LoadResult, type ResponseInspector } from './load.ts';
import { formatNumber } from './report.ts';
import { generateRules, writeRuleFiles } from './rule-corpus.ts';
import { startServerProcess } from './server-process.ts';
import { createEventSource, signedDeliveries } from './webhook-events.ts';

const RULE_COUNT = 200;
const SHIPPED_RULES = 'rules/session-status.yaml';
// A ceiling on a server's rate, to size the warm-up's deliveries; the warm-up then sizes the real runs'.
const WARMUP_DELIVERIES_PER_SECOND = 20_000;
const MIN_POOL_PER_SECOND = 5_000;

export interface IngestLoad {
  connections: number;
  /** Of the fixed-rate runs, events/s. */
  rate: number;
  duration: number;
  warmupSeconds: number;
  credentials: { apiKey: string; apiSecret: string };
}

export interface ServerUnderTest {
  name: string;
  script: string;
  env: Record<string, string>;
  /** Switchboard's answers must show the path measured: new events, every action succeeded. */
  isSwitchboard?: boolean;
}

export interface ServerInTurn {
  name: string;
  pid: number;
  /** Where its webhooks go. */
  url: string;
  /** Its runs so far. */
  runs: { max: LoadResult[]; fixed: LoadResult[] };
  /** Also sizes the pool of deliveries each max-throughput run signs. */
  warmUp(): Promise<void>;
  atMaxThroughput(): Promise<LoadResult>;
  atFixedRate(): Promise<LoadResult>;
  /** What went wrong in any of its runs: non-2xx answers, errors, and what its answers must not show. */
  problems(): string[];
  stop(): Promise<void>;
}

export async function startInTurn(server: ServerUnderTest, load: IngestLoad): Promise<ServerInTurn> {
  const running = await startServerProcess(server.script, { env: server.env });
  const check = server.isSwitchboard ? checkSwitchboardAnswers() : undefined;
  const source = createEventSource();
  const target = { url: running.url, serverPid: running.pid, inspect: check?.inspect };
  const problems: string[] = [];
  const runs: ServerInTurn['runs'] = { max: [], fixed: [] };
  let poolSize = 0;
  // Each run's deliveries are referenced by that run only: the ones before are collected here, not during it.
  const sign = async (count: number) => {
    const deliveries = await signedDeliveries(source, count, load.credentials);
    // The bench scripts run with --expose-gc; without it, a collection may land inside a run.
    (globalThis as { gc?: () => void }).gc?.();
    // Switchboard writes a few hundred megabytes in a max-throughput run: no run shares the disk with that writeback.
    execFileSync('sync');
    return deliveries;
  };
  const checked = (run: string, result: LoadResult) => {
    if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx responses in the ${run} run`);
    if (result.errors > 0) problems.push(`${result.errors} connection errors or timeouts in the ${run} run`);
    return result;
  };
  return {
    name: server.name,
    pid: running.pid,
    url: running.url,
    runs,
    async warmUp() {
      const deliveries = await sign(WARMUP_DELIVERIES_PER_SECOND * load.warmupSeconds);
      const warmup = checked('warm-up', await runAtMaxThroughput({ ...target, connections: load.connections, duration: load.warmupSeconds, deliveries }));
      // Three times the warmed-up rate (a warm-up is cold, and may be disturbed): a run fails rather than repeat one.
      poolSize = Math.ceil(Math.max(3 * warmup.eventsPerSecond, MIN_POOL_PER_SECOND) * load.duration) + 2000;
    },
    async atMaxThroughput() {
      const deliveries = await sign(poolSize);
      const max = checked('max-throughput', await runAtMaxThroughput({ ...target, connections: load.connections, duration: load.duration, deliveries }));
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
    stop: () => running.stop(),
  };
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
        if (action.status !== 'succeeded') {
          failedActions++;
          firstFailure ??= JSON.stringify(action);
        }
      }
    },
    problems() {
      const problems: string[] = [];
      if (duplicates > 0) problems.push(`${duplicates} deliveries were taken for duplicates`);
      if (failedActions > 0) problems.push(`${failedActions} actions failed, the first: ${firstFailure}`);
      return problems;
    },
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
