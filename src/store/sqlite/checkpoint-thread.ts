/**
 * The body of the checkpointer's worker thread (see checkpointer.ts): its own connection to the database,
 * copying the write-ahead log back into the database file whenever the main thread asks.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointReport, CheckpointRequest, CheckpointThreadData } from './checkpointer.ts';

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

const { location, busyTimeoutMs } = workerData as CheckpointThreadData;
const port = parentPort!;
let db: DatabaseSync | null = null;
let checkpoint: StatementSync | null = null;

port.on('message', (request: CheckpointRequest) => {
  if ('stop' in request) {
    db?.close();
    port.close();
    return;
  }
  try {
    db ??= new DatabaseSync(location, { timeout: busyTimeoutMs });
    // PASSIVE: never waits for the writer (see checkpointer.ts).
    checkpoint ??= db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    const row = checkpoint.get() as unknown as CheckpointRow;
    port.postMessage({ busy: row.busy === 1, logPages: row.log, checkpointedPages: row.checkpointed } satisfies CheckpointReport);
  } catch (error) {
    port.postMessage({ error: (error as Error).message } satisfies CheckpointReport);
  }
});
