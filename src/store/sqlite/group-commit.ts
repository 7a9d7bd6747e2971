/**
 * Group commit for the SQLite writer (docs/decisions/0001-sqlite-group-commit.md). Transactions run one at a time,
 * and each COMMIT costs a flush of the log to disk; so transactions queued while a batch runs share one BEGIN …
 * COMMIT, and one flush serves them all. Each runs in its own savepoint: a failing one is undone alone and its caller
 * rejected at once, while the others resolve only once the batch's COMMIT is durable (`committed`, see WalFlush).
 * The next batch is written while a flush runs: it stays open until that flush ends, taking in each transaction as
 * it arrives, so the CPU works while the disk does.
 */
import { setImmediate as endOfTurn, setTimeout as sleep } from 'node:timers/promises';
import { SwitchboardError } from '../../errors.ts';
import type { Connection } from './connection.ts';

/** Bounds how long the first transaction of a batch waits for the others before its COMMIT. */
const MAX_BATCH = 64;
/**
 * A batch smaller than this stays open up to COMMIT_WINDOW_MS for more. BEGIN and COMMIT cost about as much as a
 * transaction's own statements; at a steady few hundred transactions a second a batch of one would pay them for
 * each. Larger batches mean the load is already high enough to fill them without waiting. The window is short
 * because its wait is in every answer at moderate rates (docs/decisions/0001-sqlite-group-commit.md).
 */
const SMALL_BATCH = 4;
const COMMIT_WINDOW_MS = 1;

const MEMBER_SAVEPOINT = 'batch_member';

interface QueuedWork {
  work(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class GroupCommit {
  readonly #connection: Connection;
  readonly #writes: SerialQueue;
  readonly #queue: QueuedWork[] = [];
  #draining = false;
  readonly #whenDrained: Array<() => void> = [];
  /** Settles when the last batch's flush ends; null when none is running. */
  #flushing: Promise<void> | null = null;
  /** Wakes a batch held open that is waiting for the next transaction (or the end of its hold). */
  #wake: (() => void) | null = null;

  readonly #committed: () => Promise<void>;

  /**
   * Batches run as tasks of `writes`, so whatever else holds the writer (migrations, close) waits its turn.
   * `committed` is called after each COMMIT and resolves once what has been committed is on disk.
   */
  constructor(connection: Connection, writes: SerialQueue, committed: () => Promise<void>) {
    this.#connection = connection;
    this.#writes = writes;
    this.#committed = committed;
  }

  /** Runs `work` inside a transaction; resolves once the batch holding it has committed, rejects if it throws. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#wake?.();
      if (this.#draining) return;
      this.#draining = true;
      void this.#writes.run(() => this.#drain());
    });
  }

  /**
   * Holds the writer between two batches: resolves, once the running batch (if any) has committed, with the
   * function that lets batches go on. Transactions queue meanwhile; the event loop is never blocked.
   */
  pause(): Promise<() => void> {
    return new Promise((paused) => {
      void this.#writes.run(() => new Promise<void>((resume) => paused(resume)));
    });
  }

  /** Commits one batch per task of `writes`, so a pause or a close queued meanwhile comes before the next batch. */
  async #drain(): Promise<void> {
    // Transactions that arrive in this turn of the event loop join the batch.
    await endOfTurn();
    await this.#commitBatch();
    if (this.#queue.length > 0) {
      void this.#writes.run(() => this.#drain());
      return;
    }
    this.#draining = false;
    for (const done of this.#whenDrained.splice(0)) done();
  }

  /** Resolves once every transaction queued so far has been committed or rejected. */
  drained(): Promise<void> {
    if (!this.#draining) return Promise.resolve();
    return new Promise((resolve) => this.#whenDrained.push(resolve));
  }

  /** Settles every transaction it takes from the queue; never throws. */
  async #commitBatch(): Promise<void> {
    try {
      this.#connection.run('BEGIN IMMEDIATE');
    } catch (error) {
      // The transactions queued behind would wait for the same lock: they fail together.
      for (const queued of this.#queue.splice(0, MAX_BATCH)) queued.reject(error);
      return;
    }
    const window = new CommitWindow();
    const awaitingCommit: Array<{ queued: QueuedWork; value: unknown }> = [];
    let member: QueuedWork | undefined;
    try {
      let taken = 0;
      do {
        for (; taken < MAX_BATCH && this.#queue.length > 0; taken += 1) {
          member = this.#queue.shift()!;
          this.#connection.run(`SAVEPOINT ${MEMBER_SAVEPOINT}`);
          let value: unknown;
          try {
            value = await member.work();
          } catch (error) {
            member.reject(error);
            this.#undoMember(error);
            continue;
          }
          this.#connection.run(`RELEASE ${MEMBER_SAVEPOINT}`);
          awaitingCommit.push({ queued: member, value });
        }
      } while (taken < MAX_BATCH && (await this.#moreArrived(taken, window)));
      this.#connection.run('COMMIT');
    } catch (error) {
      this.#abandonBatch();
      // The last member taken may have been cut short between its savepoint and its release; if it had already
      // failed, or waits among the others, this reject changes nothing.
      member?.reject(batchLost(error));
      for (const { queued } of awaitingCommit) queued.reject(batchLost(error));
      return;
    }
    // Not awaited: the writer is free for the next batch while this one's flush runs.
    const durable = this.#committed();
    const flushed: Promise<void> = durable.then(ignore, ignore).then(() => {
      if (this.#flushing === flushed) this.#flushing = null;
    });
    this.#flushing = flushed;
    durable.then(
      () => {
        for (const { queued, value } of awaitingCommit) queued.resolve(value);
      },
      (error: unknown) => {
        for (const { queued } of awaitingCommit) queued.reject(error);
      },
    );
  }

  /**
   * Keeps the batch open while the previous batch's flush runs (this batch's own flush could not start before that
   * one ends, so committing now gains nothing), and a small batch for the rest of its window. A transaction that
   * arrives meanwhile is let in at once, so its statements run while the disk works. True when one arrived.
   */
  async #moreArrived(taken: number, window: CommitWindow): Promise<boolean> {
    if (this.#queue.length > 0) return true;
    const hold = taken < SMALL_BATCH && window.open() ? window.end() : this.#flushing;
    if (hold === null) return false;
    await new Promise<unknown>((wake) => {
      this.#wake = wake as () => void;
      hold.then(wake, wake);
    });
    this.#wake = null;
    // Either something arrived, or the hold ended; after a hold, what holds the batch now is looked at again.
    return this.#queue.length > 0 || this.#holding(taken, window);
  }

  #holding(taken: number, window: CommitWindow): boolean {
    return (taken < SMALL_BATCH && window.open()) || this.#flushing !== null;
  }

  /** Undoes one failed transaction's writes; throws when SQLite has rolled back the whole batch by itself. */
  #undoMember(failure: unknown): void {
    // Some failures (a full disk, an I/O error) end the whole transaction, not only the statement that failed.
    if (!this.#connection.inTransaction) throw failure;
    this.#connection.run(`ROLLBACK TO ${MEMBER_SAVEPOINT}`);
    this.#connection.run(`RELEASE ${MEMBER_SAVEPOINT}`);
  }

  #abandonBatch(): void {
    try {
      this.#connection.rollback();
    } catch {
      // The connection is past saving; the next BEGIN reports that to its callers.
    }
  }
}

function ignore(): void {}

/** The time a small batch stays open for more, from its BEGIN; its timer starts only if it is waited on. */
class CommitWindow {
  readonly #closesAt = performance.now() + COMMIT_WINDOW_MS;
  #closed = false;
  #end: Promise<unknown> | null = null;

  open(): boolean {
    if (!this.#closed && performance.now() >= this.#closesAt) this.#closed = true;
    return !this.#closed;
  }

  end(): Promise<unknown> {
    // Closed once its timer fires, which may be a fraction of a millisecond early by the clock (timers count whole
    // milliseconds of the loop's time): otherwise the batch would wait on the spent timer again and again.
    this.#end ??= sleep(Math.max(0, this.#closesAt - performance.now())).then(() => {
      this.#closed = true;
    });
    return this.#end;
  }
}

function batchLost(cause: unknown): SwitchboardError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SwitchboardError(
    'E_STORE_UNAVAILABLE',
    `The transaction was rolled back with the batch it was committed in: ${reason}`,
    { cause },
  );
}

/** Runs tasks one at a time, in the order they were queued. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    // A failed task reports to its own caller; the tasks queued behind it still run.
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
