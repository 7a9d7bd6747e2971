/**
 * The per-minute rollup the dashboard's overview draws: webhooks by outcome, delivery attempts by verdict, rule
 * matches. Counted in memory, per minute, and added to the store every few seconds in one statement, so a webhook
 * costs a map increment and no write of its own (no extra round trip on PostgreSQL); replicas add to the same rows.
 * What a crash loses is the counts since the last flush: figures for a chart, not a ledger.
 */
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { MinuteStat, Store } from '../../store/store.ts';

const MINUTE_MS = 60_000;
/** How far the store's figures may lag behind this process's counts. */
export const ROLLUP_FLUSH_MS = 5_000;

export class MinuteRollup {
  readonly #store: Pick<Store, 'transaction'>;
  readonly #log: Logger;
  /** Counts not yet flushed, by minute (its start, in ms) then name. */
  #counts = new Map<number, Map<string, number>>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Pick<Store, 'transaction'>, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  count(name: string, at: number = Date.now()): void {
    const minute = at - (at % MINUTE_MS);
    let names = this.#counts.get(minute);
    if (!names) this.#counts.set(minute, (names = new Map()));
    names.set(name, (names.get(name) ?? 0) + 1);
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
    this.#flushing = this.#flushing.then(async () => {
      if (stats.length === 0) return;
      try {
        await this.#store.transaction((tx) => tx.addMinuteStats(stats));
      } catch (error) {
        this.#log.warn({ err: error, stats: stats.length }, 'could not write the per-minute rollup; these counts are lost');
      }
    });
    return this.#flushing;
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

/** `metrics`, also counting into the rollup what the overview draws: it sees every webhook, attempt and match. */
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
    attempt(rule, plugin, outcome, seconds) {
      rollup.count(ROLLUP_NAMES.attempt(outcome));
      metrics.attempt(rule, plugin, outcome, seconds);
    },
  };
}
