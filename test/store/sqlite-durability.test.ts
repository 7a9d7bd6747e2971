import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Connection } from '../../src/store/sqlite/connection.ts';
import { GroupCommit, SerialQueue } from '../../src/store/sqlite/group-commit.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { eventRecord } from './store-contract.ts';

/** The prototype of node:fs/promises' FileHandle, which the store flushes its write-ahead log through. */
async function fileHandlePrototype(): Promise<{ datasync(): Promise<void> }> {
  const handle = await open(import.meta.filename, 'r');
  await handle.close();
  return Object.getPrototypeOf(handle);
}

/** Holds every flush of the write-ahead log until `release`; `flushed` lists those that went through. */
async function holdFlushes(): Promise<{ release(): void; flushed: string[] }> {
  const prototype = await fileHandlePrototype();
  const originalDatasync = prototype.datasync;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const flushed: string[] = [];
  vi.spyOn(prototype, 'datasync').mockImplementation(async function (this: { datasync(): Promise<void> }) {
    await held;
    await originalDatasync.call(this);
    flushed.push('log');
  });
  return { release, flushed };
}

describe('SQLite durability', () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-durability-'));
    path = join(dir, 'switchboard.db');
    store = new SqliteStore(path);
    await store.migrate();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const record = (id: string) => store.transaction((tx) => tx.recordEvent(eventRecord(id)));

  it('acknowledges a transaction only once the write-ahead log has been flushed to disk', async () => {
    const flushes = await holdFlushes();

    let acknowledged = false;
    const committed = record('EV_held').then(() => (acknowledged = true));
    await sleep(50);
    // Committed (another connection could read it) but not yet on disk: not acknowledged.
    expect(await store.getEvent('EV_held')).not.toBeNull();
    expect(acknowledged).toBe(false);

    flushes.release();
    await committed;
    expect(flushes.flushed).toEqual(['log']);
  });

  it('runs a transaction that arrives during the previous batch\'s flush at once, and commits it once that flush ends', async () => {
    const flushes = await holdFlushes();

    const first = record('EV_first');
    await sleep(20);
    // A batch large enough not to wait for more: it is held open only by the flush before it.
    const held = ['EV_a', 'EV_b', 'EV_c', 'EV_d'].map(record);
    await sleep(20);
    let ran = false;
    const second = store.transaction(async (tx) => {
      ran = true;
      return tx.recordEvent(eventRecord('EV_second'));
    });
    await sleep(20);
    // Its statements ran while the disk worked, in the batch held open until the flush before it has ended.
    expect(ran).toBe(true);
    expect(await store.getEvent('EV_first')).not.toBeNull();
    expect(await store.getEvent('EV_a')).toBeNull();
    expect(await store.getEvent('EV_second')).toBeNull();

    flushes.release();
    await Promise.all([first, ...held, second]);
    expect(await store.getEvent('EV_second')).not.toBeNull();
  });

  it('fails the transactions of a batch whose flush fails, with E_STORE_UNAVAILABLE, and flushes again after', async () => {
    const prototype = await fileHandlePrototype();
    const originalDatasync = prototype.datasync;
    let failures = 1;
    vi.spyOn(prototype, 'datasync').mockImplementation(async function (this: { datasync(): Promise<void> }) {
      if (failures-- > 0) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      return originalDatasync.call(this);
    });

    const outcomes = await Promise.allSettled([record('EV_a'), record('EV_b')]);
    expect(outcomes).toMatchObject([
      { status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining('EIO') } },
      { status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE' } },
    ]);
    await expect(record('EV_after')).resolves.toBeDefined();
  });

  it('checkpoints the write-ahead log into the database file in the background, while open', async () => {
    const before = (await stat(path)).size;
    // One at a time: each is a COMMIT of its own, and the checkpointer counts commits.
    for (let index = 0; index < 100; index += 1) await record(`EV_${index}`);
    // A checkpoint copies pages from the log into the database file, which grows; the writer never does it itself.
    for (let waited = 0; (await stat(path)).size === before; waited += 20) {
      if (waited > 5_000) throw new Error('no checkpoint within 5 s');
      await sleep(20);
    }
    expect((await stat(path)).size).toBeGreaterThan(before);
    expect(await store.getEvent('EV_99')).not.toBeNull();
  });

  it('starts no checkpoint for commits that changed nothing, as an idle worker\'s claims do', async () => {
    const before = (await stat(path)).size;
    for (let index = 0; index < 100; index += 1) await store.transaction(async () => undefined);
    await sleep(200);
    // The migrations' pages are still in the log only: no checkpoint copied them into the database file.
    expect((await stat(path)).size).toBe(before);
  });

  it('keeps everything across a close and reopen, after checkpoints ran', async () => {
    for (let round = 0; round < 100; round += 1) await record(`EV_${round}`);
    await store.close();
    store = new SqliteStore(path);
    for (let round = 0; round < 100; round += 1) expect(await store.getEvent(`EV_${round}`)).not.toBeNull();
  });
});

describe('SQLite write-ahead log size', () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-wal-'));
    path = join(dir, 'switchboard.db');
    store = new SqliteStore(path);
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts the log over once it passes its bound, so it does not grow with everything ever written', { timeout: 60_000 }, async () => {
    const body = JSON.stringify({ padding: 'x'.repeat(64 * 1024) });
    // 1,000 commits of 64 KiB each: 64 MiB written, four times the log's 16 MiB bound.
    for (let index = 0; index < 1_000; index += 1) {
      await store.transaction((tx) => tx.recordEvent(eventRecord(`EV_${index}`, { body })));
    }
    const log = await stat(`${path}-wal`);
    expect(log.size).toBeLessThan(40 * 1024 * 1024);
    expect(await store.getEvent('EV_999')).not.toBeNull();
  });

  it('commits every transaction queued before a close, while checkpoints come and go', { timeout: 60_000 }, async () => {
    // One 64 KiB event per turn of the event loop, 62 MiB in all; then a close with many still queued.
    const body = JSON.stringify({ padding: 'y'.repeat(64 * 1024) });
    const all: Array<Promise<unknown>> = [];
    for (let index = 0; index < 1_000; index += 1) {
      all.push(store.transaction((tx) => tx.recordEvent(eventRecord(`EV_${index}`, { body }))));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const closed = store.close();
    const outcomes = await Promise.allSettled(all);
    await closed;
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    store = new SqliteStore(path);
    expect(await store.getEvent('EV_999')).not.toBeNull();
  });
});

describe('pausing the group commit', () => {
  let dir: string;
  let connection: Connection;
  let commits: GroupCommit;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-pause-'));
    connection = new Connection(join(dir, 'pause.db'), 'PRAGMA journal_mode = WAL;');
    connection.exec('CREATE TABLE items (n INTEGER)');
    commits = new GroupCommit(connection, new SerialQueue(), async () => undefined);
  });

  afterEach(async () => {
    connection.close();
    await rm(dir, { recursive: true, force: true });
  });

  const insert = (n: number) => commits.run(async () => connection.run('INSERT INTO items VALUES (?)', n));
  const count = () => connection.get<{ count: number }>('SELECT count(*) AS count FROM items')!.count;

  it('holds transactions queued while paused, without blocking the event loop, and commits them on resume', async () => {
    const resume = await commits.pause();
    const queued = [insert(1), insert(2)];
    let timerRan = false;
    setTimeout(() => (timerRan = true), 5);
    await sleep(30);
    expect(timerRan).toBe(true);
    expect(count()).toBe(0);
    resume();
    await Promise.all(queued);
    expect(count()).toBe(2);
  });

  it('pauses only once the running batch has committed', async () => {
    let releaseWork!: () => void;
    const running = commits.run(async () => {
      connection.run('INSERT INTO items VALUES (1)');
      await new Promise<void>((resolve) => (releaseWork = resolve));
    });
    let paused = false;
    const pausing = commits.pause().then((resume) => {
      paused = true;
      return resume;
    });
    await sleep(20);
    expect(paused).toBe(false);
    releaseWork();
    await running;
    const resume = await pausing;
    expect(count()).toBe(1);
    resume();
    await commits.drained();
  });
});
