/**
 * The body of the checkpointer's worker thread (see sqlite-checkpointer.ts): its own connection to the database,
 * copying the write-ahead log back into the database file whenever the main thread says the log has grown.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointReport, CheckpointRequest, CheckpointThreadData } from './sqlite-checkpointer.ts';

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

const { location, busyTimeoutMs } = workerData as CheckpointThreadData;
const port = parentPort!;
let db: DatabaseSync | null = null;

port.on('message', (request: CheckpointRequest) => {
  if ('stop' in request) {
    db?.close();
    port.close();
    return;
  }
  try {
    db ??= new DatabaseSync(location, { timeout: busyTimeoutMs });
    // PASSIVE never waits for the writer; RESTART does, and is asked for only when the log has outgrown its bound.
    const row = db.prepare(`PRAGMA wal_checkpoint(${request.mode})`).get() as unknown as CheckpointRow;
    port.postMessage({ busy: row.busy === 1, logPages: row.log, checkpointedPages: row.checkpointed } satisfies CheckpointReport);
  } catch (error) {
    port.postMessage({ error: (error as Error).message } satisfies CheckpointReport);
  }
});
