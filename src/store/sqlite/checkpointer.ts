/**
 * Checkpoints the SQLite write-ahead log on a worker thread of its own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: it copies the log into the
 * database file and syncs both, which blocks the event loop for tens to hundreds of milliseconds. So the writer turns
 * it off (`wal_autocheckpoint = 0`) and this asks a thread with its own connection for a PASSIVE checkpoint (which
 * never waits for the writer) every COMMITS_PER_CHECKPOINT commits.
 *
 * The log starts over from its beginning only when the writer begins a transaction after a checkpoint has copied
 * all of it; under steady writes the writer has mostly added more by then, and the log keeps growing. Past
 * MAX_LOG_PAGES, the checkpoint pauses the writer between two batches (transactions queue, nothing blocks) so that
 * it catches up, and the next transaction starts the log over. Not a RESTART checkpoint: that one takes the write
 * lock, and the writer, asking for it meanwhile, would sleep in SQLite's busy handler with the event loop stopped.
 */
import { Worker } from 'node:worker_threads';

/** Commits between checkpoints. A store that has written less than this has too little in its log to bother. */
const COMMITS_PER_CHECKPOINT = 64;
/** 16 MiB of 4 KiB pages. */
const MAX_LOG_PAGES = 4_096;

export interface CheckpointThreadData {
  location: string;
  busyTimeoutMs: number;
}

export type CheckpointRequest = { checkpoint: true } | { stop: true };

export type CheckpointReport = { busy: boolean; logPages: number; checkpointedPages: number } | { error: string };

export interface CheckpointerOptions {
  /** Holds the writer between two batches; resolves with the function that lets it go on. */
  pauseWrites: () => Promise<() => void>;
  /** Told when a checkpoint fails; the log then grows until one succeeds. */
  onWarning?: (message: string) => void;
}

export class Checkpointer {
  readonly #data: CheckpointThreadData;
  readonly #options: CheckpointerOptions;
  #thread: Worker | null = null;
  /** The checkpoint the thread is running: settled by its report. */
  #awaitingReport: { resolve(report: CheckpointReport): void } | null = null;
  #commits = 0;
  /** The checkpoint under way, settled when it has ended; null when none is. */
  #running: Promise<void> | null = null;
  /** The size of the log at the last checkpoint. */
  #logPages = 0;
  #stopped = false;

  /** `thread`: how the thread opens its own connection. */
  constructor(thread: CheckpointThreadData, options: CheckpointerOptions) {
    this.#data = thread;
    this.#options = options;
  }

  /** Called after each COMMIT of the writer. */
  committed(): void {
    this.#commits += 1;
    if (this.#running === null && this.#commits >= COMMITS_PER_CHECKPOINT) void this.#checkpoint();
  }

  /**
   * Resolves once a checkpoint begun after this call has ended: what was committed before it is in the database
   * file (or the log kept busy). Lets a run of large transactions (pruning) go no faster than checkpoints copy them.
   */
  async caughtUp(): Promise<void> {
    // One under way may have begun before the latest commits.
    if (this.#running !== null) await this.#running;
    await (this.#running ?? this.#checkpoint());
  }

  /**
   * Ends the thread once it has finished the checkpoint it is running; the writer's own close checkpoints what is
   * left. Does not wait for a checkpoint still waiting to pause the writer: the caller may be what it waits for.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    const thread = this.#thread;
    if (thread === null) return;
    const exited = new Promise((resolve) => thread.once('exit', resolve));
    thread.postMessage({ stop: true } satisfies CheckpointRequest);
    await exited;
  }

  #checkpoint(): Promise<void> {
    const running = this.#run().finally(() => {
      this.#running = null;
      if (this.#commits >= COMMITS_PER_CHECKPOINT) void this.#checkpoint();
    });
    this.#running = running;
    return running;
  }

  async #run(): Promise<void> {
    this.#commits = 0;
    const catchUp = this.#logPages > MAX_LOG_PAGES;
    const resumeWrites = catchUp ? await this.#options.pauseWrites() : undefined;
    try {
      if (this.#stopped) return;
      const report = await this.#ask();
      if ('error' in report) {
        this.#options.onWarning?.(`A checkpoint of the SQLite write-ahead log failed: ${report.error}`);
        return;
      }
      // Caught up with the writer paused: its next transaction starts the log over.
      const startsOver = catchUp && !report.busy && report.checkpointedPages === report.logPages;
      this.#logPages = startsOver ? 0 : report.logPages;
    } finally {
      resumeWrites?.();
    }
  }

  #ask(): Promise<CheckpointReport> {
    return new Promise((resolve) => {
      this.#awaitingReport = { resolve };
      this.#threadStarted().postMessage({ checkpoint: true } satisfies CheckpointRequest);
    });
  }

  #threadStarted(): Worker {
    if (this.#thread !== null) return this.#thread;
    // The thread's file has this module's extension: `.ts` in a checkout, `.js` once built for the package.
    const threadFile = `./checkpoint-thread${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`;
    const thread = new Worker(new URL(threadFile, import.meta.url), { workerData: this.#data });
    // Checkpoints are housekeeping: they must never keep the process alive.
    thread.unref();
    thread.on('message', (report: CheckpointReport) => this.#settle(report));
    thread.on('error', (error) => {
      this.#thread = null;
      this.#settle({ error: `the checkpoint thread failed: ${error.message}` });
    });
    this.#thread = thread;
    return thread;
  }

  #settle(report: CheckpointReport): void {
    const awaiting = this.#awaitingReport;
    this.#awaitingReport = null;
    awaiting?.resolve(report);
  }
}
