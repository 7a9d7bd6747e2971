/**
 * Makes committed SQLite transactions durable without blocking the event loop.
 *
 * With `synchronous = FULL` SQLite fsyncs the write-ahead log inside COMMIT, and node:sqlite is synchronous, so the
 * whole process waits for the disk. The writer runs with `synchronous = NORMAL` instead (COMMIT writes the log but
 * does not sync it; checkpoints still sync) and this flushes the log with `fdatasync` on libuv's thread pool before
 * anyone is told that a transaction committed. What is acknowledged is on disk, as under FULL; while a flush runs,
 * the next batch of transactions is already being written (docs/decisions/0002-wal-flush-off-event-loop.md).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SwitchboardError } from '../../errors.ts';

export class WalFlush {
  readonly #walPath: string;
  #log: Promise<FileHandle> | null = null;
  /** The flush running now. It may have started before the caller's commit, so it cannot vouch for it. */
  #running: Promise<void> | null = null;
  /** The flush that starts when the running one ends: every caller that came during the running one shares it. */
  #next: Promise<void> | null = null;

  /** `databasePath`: the database file; SQLite keeps its write-ahead log beside it with `-wal` appended. */
  constructor(databasePath: string) {
    this.#walPath = `${databasePath}-wal`;
  }

  /** Resolves once everything committed before the call is on disk. */
  flush(): Promise<void> {
    if (this.#running === null) return this.#start();
    this.#next ??= this.#running.then(
      () => this.#startNext(),
      () => this.#startNext(),
    );
    return this.#next;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    const log = this.#log;
    this.#log = null;
    if (log) await (await log.catch(() => null))?.close();
  }

  #startNext(): Promise<void> {
    this.#next = null;
    return this.#start();
  }

  #start(): Promise<void> {
    const running = this.#sync().finally(() => {
      if (this.#running === running) this.#running = null;
    });
    this.#running = running;
    return running;
  }

  async #sync(): Promise<void> {
    try {
      this.#log ??= openLog(this.#walPath);
      await (await this.#log).datasync();
    } catch (error) {
      // The next flush reopens the log; whether this one's data reached the disk is unknown, so its callers fail.
      const failed = this.#log;
      this.#log = null;
      failed?.then((log) => log.close()).catch(() => undefined);
      throw new SwitchboardError(
        'E_STORE_UNAVAILABLE',
        `Could not flush the SQLite write-ahead log ${this.#walPath} to disk: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

/** Opens the log and syncs its directory once, so that the log file itself survives a power loss. */
async function openLog(walPath: string): Promise<FileHandle> {
  const log = await open(walPath, 'r');
  const directory = await open(dirname(walPath), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
  return log;
}
