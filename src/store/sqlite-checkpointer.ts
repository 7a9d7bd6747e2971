/**
 * Checkpoints the SQLite write-ahead log on a worker thread of its own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: it copies the log into the
 * database file and syncs both, which blocks the event loop for tens to hundreds of milliseconds. So the writer turns
 * it off (`wal_autocheckpoint = 0`) and this asks a thread with its own connection to checkpoint as commits
 * accumulate. PASSIVE checkpoints never wait for the writer. The writer starts the log over once a checkpoint has
 * caught up with it, but under steady writes it has mostly written more by then; a log grown past MAX_LOG_PAGES gets a
 * RESTART checkpoint, which holds the writer back the moment it takes to catch up and make it start over.
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

type CheckpointMode = 'PASSIVE' | 'RESTART';

export type CheckpointRequest = { mode: CheckpointMode } | { stop: true };

export type CheckpointReport = { busy: boolean; logPages: number; checkpointedPages: number } | { error: string };

export interface CheckpointerOptions {
  busyTimeoutMs: number;
  /** Told when a checkpoint fails; the log then grows until one succeeds. */
  onWarning?: (message: string) => void;
}

export class Checkpointer {
  readonly #data: CheckpointThreadData;
  readonly #onWarning: (message: string) => void;
  #thread: Worker | null = null;
  #commits = 0;
  #running = false;
  #mode: CheckpointMode = 'PASSIVE';
  /** The size of the log at the last checkpoint. */
  #logPages = 0;
  #stopped = false;

  constructor(location: string, options: CheckpointerOptions) {
    this.#data = { location, busyTimeoutMs: options.busyTimeoutMs };
    this.#onWarning = options.onWarning ?? (() => undefined);
  }

  /** Called after each COMMIT of the writer. */
  committed(): void {
    this.#commits += 1;
    if (!this.#running && this.#commits >= COMMITS_PER_CHECKPOINT) this.#checkpoint();
  }

  /** Waits for a running checkpoint and ends the thread; the writer's own close checkpoints what is left. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const thread = this.#thread;
    if (thread === null) return;
    const exited = new Promise((resolve) => thread.once('exit', resolve));
    thread.postMessage({ stop: true } satisfies CheckpointRequest);
    await exited;
  }

  #checkpoint(): void {
    if (this.#stopped) return;
    this.#running = true;
    this.#commits = 0;
    this.#mode = this.#logPages > MAX_LOG_PAGES ? 'RESTART' : 'PASSIVE';
    this.#threadStarted().postMessage({ mode: this.#mode } satisfies CheckpointRequest);
  }

  #threadStarted(): Worker {
    if (this.#thread !== null) return this.#thread;
    const thread = new Worker(new URL('./sqlite-checkpoint-thread.ts', import.meta.url), { workerData: this.#data });
    // Checkpoints are housekeeping: they must never keep the process alive.
    thread.unref();
    thread.on('message', (report: CheckpointReport) => this.#reported(report));
    thread.on('error', (error) => {
      this.#thread = null;
      this.#running = false;
      this.#onWarning(`The SQLite checkpoint thread failed: ${error.message}`);
    });
    this.#thread = thread;
    return thread;
  }

  #reported(report: CheckpointReport): void {
    this.#running = false;
    if ('error' in report) {
      this.#onWarning(`A checkpoint of the SQLite write-ahead log failed: ${report.error}`);
      return;
    }
    // A RESTART that copied the whole log has made the writer start it over; a PASSIVE one only lets it, if it can.
    const restarted = this.#mode === 'RESTART' && !report.busy && report.checkpointedPages === report.logPages;
    this.#logPages = restarted ? 0 : report.logPages;
    if (this.#commits >= COMMITS_PER_CHECKPOINT) this.#checkpoint();
  }
}
