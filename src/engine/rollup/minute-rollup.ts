/**
 * The per-minute rollup the dashboard draws: webhooks by outcome, delivery attempts by verdict, rule
 * matches, and each target's attempt latency as a histogram. Counted in memory, per minute, and added to the store
 * every few seconds in one transaction, so a webhook costs a map increment and no write of its own (no extra round
 * trip on PostgreSQL); replicas add to the same rows. What a crash loses is the counts since the last flush: figures
 * for a chart, not a ledger.
 */
import type { Logger } from '../../telemetry/logger.ts';
import { OTHER_TARGETS, TARGET_SERIES_LIMIT, type Metrics } from '../../telemetry/metrics.ts';
import type { LatencyCount, MinuteStat, Store } from '../../store/store.ts';
import { latencyBucketOf } from './latency-histogram.ts';

const MINUTE_MS = 60_000;
/** How far the store's figures may lag behind this process's counts. */
export const ROLLUP_FLUSH_MS = 5_000;
/** How long a minute's targets with rows of their own are remembered: a late count lands in a recent minute. */
const CAP_MEMORY_MS = 3 * MINUTE_MS;

function minuteOf(at: number): number {
  return at - (at % MINUTE_MS);
}

/** The map `map` holds under `key`, made when missing. */
function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) map.set(key, (value = make()));
  return value;
}

function increment<K>(counts: Map<K, number>, key: K, by = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}

/** Attempts by target, then bucket (its upper bound in ms). */
type TargetBuckets = Map<string, Map<number, number>>;

export class MinuteRollup {
  readonly #store: Pick<Store, 'transaction'>;
  readonly #log: Logger;
  readonly #targetLimit: number;
  /** Counts not yet flushed, by minute (its start, in ms) then name. */
  #counts = new Map<number, Map<string, number>>();
  /** Attempts not yet flushed, by minute. */
  #latencies = new Map<number, TargetBuckets>();
  /** By minute, the targets given latency rows of their own so far: at most `targetLimit`. */
  #ownRows = new Map<number, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /**
   * `targetLimit`: how many targets have latency rows of their own per minute, the rest sharing `other`, as the
   * metrics cap their target label: a templated URL naming targets without end cannot grow the table without end.
   */
  constructor(store: Pick<Store, 'transaction'>, log: Logger, targetLimit = TARGET_SERIES_LIMIT) {
    this.#store = store;
    this.#log = log;
    this.#targetLimit = targetLimit;
  }

  count(name: string, at: number = Date.now()): void {
    increment(entryOf(this.#counts, minuteOf(at), () => new Map()), name);
  }

  /** One attempt to `target` that took `ms`, finished at `at`. */
  latency(target: string, ms: number, at: number = Date.now()): void {
    const targets = entryOf(this.#latencies, minuteOf(at), (): TargetBuckets => new Map());
    increment(entryOf(targets, target, () => new Map()), latencyBucketOf(ms));
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), ROLLUP_FLUSH_MS);
    this.#timer.unref();
  }

  /** Stops the timer and flushes what is left. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Adds the counts so far to the store; flushes run one after another. A failed flush is logged and its counts dropped. */
  flush(): Promise<void> {
    const counts = this.#counts;
    this.#counts = new Map();
    const stats: MinuteStat[] = [...counts].flatMap(([minute, names]) =>
      [...names].map(([name, count]) => ({ minute: new Date(minute), name, count })));
    const latencies = this.#cappedLatencies();
    this.#flushing = this.#flushing.then(async () => {
      if (stats.length === 0 && latencies.length === 0) return;
      try {
        await this.#store.transaction(async (tx) => {
          await tx.addMinuteStats(stats);
          await tx.addLatencyCounts(latencies);
        });
      } catch (error) {
        this.#log.warn({ err: error, rows: stats.length + latencies.length }, 'could not write the per-minute rollup; these counts are lost');
      }
    });
    return this.#flushing;
  }

  /**
   * The attempts counted since the last flush as rows, each minute's targets past `targetLimit` counted as `other`.
   * Targets that have rows of their own in a minute keep them for the rest of it; of those new to it, the busiest
   * come first.
   */
  #cappedLatencies(): LatencyCount[] {
    const latencies = this.#latencies;
    this.#latencies = new Map();
    const rows: LatencyCount[] = [];
    for (const [minute, targets] of latencies) {
      const own = entryOf(this.#ownRows, minute, () => new Set<string>());
      const attempts = (buckets: Map<number, number>) => [...buckets.values()].reduce((sum, count) => sum + count, 0);
      const busiestFirst = [...targets].sort(([a, x], [b, y]) => attempts(y) - attempts(x) || a.localeCompare(b));
      const capped: TargetBuckets = new Map();
      for (const [target, buckets] of busiestFirst) {
        if (!own.has(target) && own.size < this.#targetLimit) own.add(target);
        const into = entryOf(capped, own.has(target) ? target : OTHER_TARGETS, () => new Map());
        for (const [leMs, count] of buckets) increment(into, leMs, count);
      }
      for (const [target, buckets] of capped) {
        for (const [leMs, count] of buckets) rows.push({ minute: new Date(minute), target, leMs, count });
      }
    }
    const newest = Math.max(...this.#ownRows.keys());
    for (const minute of this.#ownRows.keys()) if (minute < newest - CAP_MEMORY_MS) this.#ownRows.delete(minute);
    return rows;
  }
}

/** The names the rollup counts under, read back by the overview. */
export const ROLLUP_NAMES = {
  /** `accepted`, `duplicate`, or the errcode a webhook was refused with. */
  webhook: (outcome: string) => `webhook.${outcome}`,
  /** `succeeded`, `failed-waiting-retry` or `dead`. */
  attempt: (verdict: string) => `attempt.${verdict}`,
  rule: (rule: string) => `rule.${rule}`,
};

/** `metrics`, also counting into the rollup what the dashboard draws: it sees every webhook, attempt and match. */
export function countingInto(rollup: MinuteRollup, metrics: Metrics): Metrics {
  return {
    ...metrics,
    webhook(event, outcome, seconds) {
      rollup.count(ROLLUP_NAMES.webhook(outcome));
      metrics.webhook(event, outcome, seconds);
    },
    ruleMatched(rule) {
      rollup.count(ROLLUP_NAMES.rule(rule));
      metrics.ruleMatched(rule);
    },
    attempt(rule, plugin, outcome, seconds, target) {
      rollup.count(ROLLUP_NAMES.attempt(outcome));
      rollup.latency(target, seconds * 1000);
      metrics.attempt(rule, plugin, outcome, seconds, target);
    },
  };
}
