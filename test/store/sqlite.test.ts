import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteMigrations } from '../../src/store/migrations/sqlite.ts';
import { openStore } from '../../src/store/open.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { describeStoreContract, eventRecord } from './store-contract.ts';

async function temporaryDirectory(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-store-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

describeStoreContract('SQLite', async () => {
  const { dir, remove } = await temporaryDirectory();
  return { store: new SqliteStore(join(dir, 'switchboard.db')), cleanup: remove };
});

describe('SQLite store', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let path: string;

  beforeEach(async () => {
    ({ dir, remove } = await temporaryDirectory());
    path = join(dir, 'switchboard.db');
  });

  afterEach(() => remove());

  function inspect<T>(query: (db: DatabaseSync) => T): T {
    const db = new DatabaseSync(path);
    try {
      return query(db);
    } finally {
      db.close();
    }
  }

  it('records every applied migration with its version, name and time', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.migrate();
    await store.close();
    const rows = inspect((db) => db.prepare('SELECT version, name, applied_at FROM schema_migrations').all());
    expect(rows.map((row) => ({ ...row }))).toEqual(
      sqliteMigrations.map((migration) => ({
        version: migration.version,
        name: migration.name,
        applied_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      })),
    );
  });

  it('lists its migrations in strictly increasing version order', () => {
    const versions = sqliteMigrations.map((migration) => migration.version);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
  });

  it('refuses a database migrated by a newer Switchboard', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.close();
    inspect((db) =>
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', '')").run(),
    );
    const reopened = new SqliteStore(path);
    await expect(reopened.migrate()).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringContaining('schema version 999'),
    });
    await reopened.close();
  });

  it('puts the database in WAL mode', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.close();
    expect(inspect((db) => db.prepare('PRAGMA journal_mode').get())).toEqual({ journal_mode: 'wal' });
  });

  it('keeps events and sessions across close and reopen', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.transaction(async (tx) => {
      const recorded = await tx.recordEvent(eventRecord('EV_1'));
      if (recorded.duplicate) throw new Error('unexpected duplicate');
      await tx.transitionSession(
        { key: 'room:a', status: 'live' },
        { id: 'EV_1', name: 'room_started', createdAt: 1_700_000_000, seq: recorded.seq },
      );
    });
    await store.close();

    const reopened = new SqliteStore(path);
    await reopened.migrate();
    expect(await reopened.getEvent('EV_1')).toMatchObject(eventRecord('EV_1'));
    expect(await reopened.getSession('room:a')).toMatchObject({ status: 'live', eventId: 'EV_1' });
    expect(await reopened.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))).toEqual({ duplicate: true });
    await reopened.close();
  });

  it('keeps a committed event when the process that wrote it is killed', async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'commit-then-wait.ts'), `file:${path}`, 'EV_survivor'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout) {
      output += chunk;
      if (output.includes('committed')) break;
    }
    expect(output).toContain('committed');
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    expect(await exited).toEqual([null, 'SIGKILL']);

    const store = new SqliteStore(path);
    await store.migrate();
    expect(await store.getEvent('EV_survivor')).toMatchObject({ id: 'EV_survivor' });
    await store.close();
  });

  it('reports a file that is not a database as E_STORE_UNAVAILABLE', async () => {
    await writeFile(path, 'this is not a SQLite database, it is just text long enough to have a header'.repeat(10));
    expect(() => new SqliteStore(path)).toThrow(
      expect.objectContaining({ code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining(path) }),
    );
  });

  it('reports a write lock held beyond the busy timeout as E_STORE_UNAVAILABLE', { timeout: 15_000 }, async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      await expect(store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))).rejects.toMatchObject({
        code: 'E_STORE_UNAVAILABLE',
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))).toMatchObject({ duplicate: false });
    await store.close();
  });

  it('works in memory', async () => {
    const store = await openStore('file::memory:');
    await store.migrate();
    await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')));
    expect(await store.getEvent('EV_1')).not.toBeNull();
    await store.close();
  });
});
