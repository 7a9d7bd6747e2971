/**
 * The pruner: every PRUNE_INTERVAL, on one replica at a time, it takes each prune step's old rows in small batches,
 * each batch a short transaction of its own, and pauses between batches as long as the batch took, so ingest and
 * deliveries get the database at least half the time (SQLite's one writer, PostgreSQL's row locks).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetentionSettings } from '../../config.ts';
import type { PrunedRows, PruneStepName, Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { pruneCutoffs } from './cutoffs.ts';

/** Rows per batch: a transaction short enough not to hold webhooks back (measured in bench/retention.ts). */
export const BATCH_ROWS = 500;
/**
 * How long a step's scan resumes where the last run left it before it starts again from its oldest row: rows it
 * passed over because something still needed them (an event whose delivery was unfinished) are looked at again.
 */
const RESCAN_MS = 60 * 60 * 1000;

export interface PrunerOptions {
  store: Store;
  retention: RetentionSettings;
  intervalMs: number;
  log: Logger;
  metrics: Pick<Metrics, 'pruned' | 'pruneRan'>;
  batchRows?: number;
}

/** Adds `more` into `total`, table by table. */
function add(total: PrunedRows, more: PrunedRows): PrunedRows {
  for (const [table, rows] of Object.entries(more)) total[table] = (total[table] ?? 0) + rows;
  return total;
}

/**
 * One run: every step until none of its rows is old enough, or `stopping` says so; rows removed by table.
 * @example await pruneOnce({ store, retention: config.retention, ... }, () => false)
 */
export async function pruneOnce(
  options: Omit<PrunerOptions, 'intervalMs' | 'log'>,
  stopping: () => boolean,
  resumeAfter = new Map<PruneStepName, number>(),
): Promise<PrunedRows> {
  const { store, metrics } = options;
  const batchRows = options.batchRows ?? BATCH_ROWS;
  const total: PrunedRows = {};
  for (const { step, cutoff } of pruneCutoffs(options.retention, new Date())) {
    while (!stopping()) {
      const started = performance.now();
      const { pruned, last, done } = await store.pruneBatch(step, cutoff, batchRows, resumeAfter.get(step) ?? 0);
      for (const [table, count] of Object.entries(pruned)) if (count > 0) metrics.pruned(table, count);
      add(total, pruned);
      if (done) break;
      if (last !== null) resumeAfter.set(step, last);
      await sleep(performance.now() - started);
    }
  }
  await store.reclaimSpace();
  metrics.pruneRan(new Date());
  return total;
}

/** What a run would remove now, by table (`switchboard prune --dry-run`). */
export async function prunable(store: Store, retention: RetentionSettings): Promise<PrunedRows> {
  const total: PrunedRows = {};
  for (const { step, cutoff } of pruneCutoffs(retention, new Date())) add(total, await store.countPrunable(step, cutoff));
  return total;
}

/** Runs pruneOnce every interval (the first one interval after start) until stopped. */
export class Pruner {
  readonly #options: PrunerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** Where each step's scan resumes, and when they were last all started again from the oldest rows. */
  #resumeAfter = new Map<PruneStepName, number>();
  #rescannedAt = 0;

  constructor(options: PrunerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#schedule();
  }

  /** Lets a batch under way finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#run().finally(() => this.#schedule());
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const { store, log } = this.#options;
    try {
      let pruned: PrunedRows = {};
      if (Date.now() - this.#rescannedAt >= RESCAN_MS) {
        this.#resumeAfter.clear();
        this.#rescannedAt = Date.now();
      }
      const ran = await store.runAlone('prune', async () => {
        pruned = await pruneOnce(this.#options, () => this.#stopped, this.#resumeAfter);
      });
      if (ran && Object.keys(pruned).length > 0) log.info({ pruned }, 'pruned');
    } catch (error) {
      log.warn({ err: error }, 'pruning failed; the next run tries again');
    }
  }
}
