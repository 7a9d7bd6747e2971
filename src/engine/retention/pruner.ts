/**
 * The pruner: every PRUNE_INTERVAL, on one replica at a time, it takes each prune step's old rows in small batches,
 * each a transaction of its own bounded in rows (at most BATCH_ROWS of the step's table, with the rows that depend
 * on them) and in time: batches are sized to hold the database half of the store's budget (Store.pruneBudgetMs),
 * from how long the last one did, starting small. After each batch it yields to the writes that queued meanwhile
 * (Store.yieldToWrites) and pauses as long as the batch and that yield took, so that ingest and deliveries get the
 * database (SQLite's one writer, PostgreSQL's row locks) at least half the time; once the batches since the last
 * wait have held the database CATCH_UP_HELD_MS, it also waits for the disk to take them in (Store.letDiskCatchUp),
 * so that a catch-up over a large backlog goes no faster than the disk. Freed space goes back alike, in small
 * steps; on PostgreSQL the tables a run deleted many rows from are vacuumed (never rewritten).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetentionSettings } from '../../config.ts';
import type { PrunedRows, PruneStepName, Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { pruneCutoffs } from './cutoffs.ts';

/** The most rows of a step's table per batch (docs/performance.md, retention). */
export const BATCH_ROWS = 500;
/** The fewest, and what a step starts with. */
const MIN_BATCH_ROWS = 10;
/** The most free pages given back per step: 1 MiB of 4 KiB pages. */
const RECLAIM_PAGES = 256;
/**
 * How long the batches since the pruner last waited for the disk may hold the database before it waits again: a
 * checkpoint per batch would compete with ingest's log flushes for the disk, and a batch is short.
 */
const CATCH_UP_HELD_MS = 12;
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

/** What a pruner carries from one run to the next. */
export interface PruneProgress {
  /** Where each step's scan resumes. */
  resumeAfter: Map<PruneStepName, number>;
  /** The size of each step's next batch (rows), and of the next step giving space back (pages). */
  sizes: Map<PruneStepName | 'reclaim', number>;
  /** How long the batches since the last wait for the disk held the database. */
  heldSinceCatchUp: number;
}

export function freshProgress(): PruneProgress {
  return { resumeAfter: new Map(), sizes: new Map(), heldSinceCatchUp: 0 };
}

/**
 * The next batch's size after one of `size` held the database `heldMs`: what would hold it half of `budgetMs`, at
 * most twice as large, between MIN_BATCH_ROWS and `most`.
 */
export function nextBatchSize(size: number, heldMs: number, most: number, budgetMs: number): number {
  const fitting = Math.floor((size * budgetMs) / 2 / Math.max(heldMs, 0.1));
  return Math.min(most, Math.max(MIN_BATCH_ROWS, Math.min(size * 2, fitting)));
}

/**
 * Lets the writes that queued meanwhile have the database (and, every CATCH_UP_HELD_MS of batches, the disk take
 * the batches in: SQLite's checkpoint), then stays away as long as the batch held it and as long as that took, so
 * that ingest gets the database, and the disk its flushes share, at least half the time.
 */
async function giveWay(store: Store, heldMs: number, progress: PruneProgress): Promise<void> {
  const yielding = performance.now();
  await store.yieldToWrites();
  progress.heldSinceCatchUp += heldMs;
  if (progress.heldSinceCatchUp >= CATCH_UP_HELD_MS) {
    progress.heldSinceCatchUp = 0;
    await store.letDiskCatchUp();
  }
  await sleep(heldMs + (performance.now() - yielding));
}

/**
 * One run: every step until none of its rows is old enough, then the tables it deleted many rows from vacuumed and
 * the space freed given back, or until `stopping` says so; rows removed by table.
 * @example await pruneOnce({ store, retention: config.retention, ... }, () => false)
 */
export async function pruneOnce(
  options: Omit<PrunerOptions, 'intervalMs' | 'log'> & { log?: Logger },
  stopping: () => boolean,
  progress: PruneProgress = freshProgress(),
): Promise<PrunedRows> {
  const { store, metrics } = options;
  const { resumeAfter, sizes } = progress;
  const budget = store.pruneBudgetMs;
  const most = options.batchRows ?? BATCH_ROWS;
  const total: PrunedRows = {};
  for (const { step, cutoff } of pruneCutoffs(options.retention, new Date())) {
    while (!stopping()) {
      const rows = Math.min(most, sizes.get(step) ?? MIN_BATCH_ROWS);
      const { pruned, last, done, heldMs } = await store.pruneBatch(step, cutoff, rows, resumeAfter.get(step) ?? 0);
      for (const [table, count] of Object.entries(pruned)) if (count > 0) metrics.pruned(table, count);
      add(total, pruned);
      if (last !== null) resumeAfter.set(step, last);
      sizes.set(step, nextBatchSize(rows, heldMs, most, budget));
      await giveWay(store, heldMs, progress);
      if (done) break;
    }
  }
  if (!stopping()) {
    const vacuumed = await store.vacuumPruned(total);
    if (vacuumed.length > 0) options.log?.info({ vacuumed }, 'vacuumed after pruning');
  }
  while (!stopping()) {
    const pages = sizes.get('reclaim') ?? MIN_BATCH_ROWS;
    const started = performance.now();
    const more = await store.reclaimSpace(pages);
    // Timed whole, waits for its turn and for the disk included: giving space back is never urgent.
    const tookMs = performance.now() - started;
    sizes.set('reclaim', nextBatchSize(pages, tookMs, RECLAIM_PAGES, budget));
    if (!more) break;
    await giveWay(store, tookMs, progress);
  }
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
  /** Where each step's scan resumes (and when they last all started again from the oldest rows), and batch sizes. */
  readonly #progress = freshProgress();
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
        this.#progress.resumeAfter.clear();
        this.#rescannedAt = Date.now();
      }
      const ran = await store.runAlone('prune', async () => {
        pruned = await pruneOnce(this.#options, () => this.#stopped, this.#progress);
      });
      if (ran && Object.keys(pruned).length > 0) log.info({ pruned }, 'pruned');
    } catch (error) {
      log.warn({ err: error }, 'pruning failed; the next run tries again');
    }
  }
}
