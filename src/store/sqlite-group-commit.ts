/**
 * Group commit for the SQLite writer. With `synchronous = FULL` every COMMIT waits for an fsync, and transactions
 * run one at a time; so transactions queued while a batch runs share one BEGIN … COMMIT, and one fsync serves them
 * all. Each runs in its own savepoint: a failing one is undone alone and its caller rejected at once, while the
 * others resolve only after the COMMIT that made them durable.
 */
import { setImmediate as endOfTurn } from 'node:timers/promises';
import { SwitchboardError } from '../errors.ts';
import type { Connection } from './sqlite-connection.ts';

/** Bounds how long the first transaction of a batch waits for the others before its COMMIT. */
const MAX_BATCH = 64;
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

  /** Batches run as tasks of `writes`, so whatever else holds the writer (migrations, close) waits its turn. */
  constructor(connection: Connection, writes: SerialQueue) {
    this.#connection = connection;
    this.#writes = writes;
  }

  /** Runs `work` inside a transaction; resolves once the batch holding it has committed, rejects if it throws. */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#draining) return;
      this.#draining = true;
      void this.#writes.run(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Transactions that arrive in this turn of the event loop join the batch.
        await endOfTurn();
        await this.#commitBatch();
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Settles every transaction it takes from the queue; never throws. */
  async #commitBatch(): Promise<void> {
    try {
      this.#connection.exec('BEGIN IMMEDIATE');
    } catch (error) {
      // The transactions queued behind would wait for the same lock: they fail together.
      for (const queued of this.#queue.splice(0, MAX_BATCH)) queued.reject(error);
      return;
    }
    const awaitingCommit: Array<{ queued: QueuedWork; value: unknown }> = [];
    let member: QueuedWork | undefined;
    try {
      for (let taken = 0; taken < MAX_BATCH && this.#queue.length > 0; taken += 1) {
        member = this.#queue.shift()!;
        this.#connection.exec(`SAVEPOINT ${MEMBER_SAVEPOINT}`);
        let value: unknown;
        try {
          value = await member.work();
        } catch (error) {
          member.reject(error);
          this.#undoMember(error);
          continue;
        }
        this.#connection.exec(`RELEASE ${MEMBER_SAVEPOINT}`);
        awaitingCommit.push({ queued: member, value });
      }
      this.#connection.exec('COMMIT');
    } catch (error) {
      this.#abandonBatch();
      // The last member taken may have been cut short between its savepoint and its release; if it had already
      // failed, or waits among the others, this reject changes nothing.
      member?.reject(batchLost(error));
      for (const { queued } of awaitingCommit) queued.reject(batchLost(error));
      return;
    }
    for (const { queued, value } of awaitingCommit) queued.resolve(value);
  }

  /** Undoes one failed transaction's writes; throws when SQLite has rolled back the whole batch by itself. */
  #undoMember(failure: unknown): void {
    // Some failures (a full disk, an I/O error) end the whole transaction, not only the statement that failed.
    if (!this.#connection.inTransaction) throw failure;
    this.#connection.exec(`ROLLBACK TO ${MEMBER_SAVEPOINT}`);
    this.#connection.exec(`RELEASE ${MEMBER_SAVEPOINT}`);
  }

  #abandonBatch(): void {
    try {
      this.#connection.rollback();
    } catch {
      // The connection is past saving; the next BEGIN reports that to its callers.
    }
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
