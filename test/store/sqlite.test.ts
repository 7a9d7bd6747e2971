import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, StatementSync, type SQLInputValue, type StatementResultingChanges } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UNFINISHED_STATES } from '../../src/store/delivery-state.ts';
import { sqliteMigrations } from '../../src/store/sqlite/migrations.ts';
import { openStore } from '../../src/store/open.ts';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { describeStoreContract, eventRecord } from './store-contract.ts';

async function temporaryDirectory(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-store-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts a child script on the database; kills it with SIGKILL once its output satisfies `enough`; returns the output. */
async function killWhen(script: string, args: string[], enough: (output: string) => boolean): Promise<string> {
  const child = spawn(process.execPath, [join(import.meta.dirname, script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8');
  for await (const chunk of child.stdout) {
    output += chunk;
    if (enough(output)) break;
  }
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  expect(await exited).toEqual([null, 'SIGKILL']);
  return output;
}

/** An error as node:sqlite raises it for the SQLite result code `errcode`. */
function sqliteError(errcode: number, message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_SQLITE_ERROR', errcode, errstr: message });
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
    expect(await store.migrate()).toEqual(sqliteMigrations);
    expect(await store.migrate()).toEqual([]);
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

  it('switchboard migrate lists the SQLite migrations it applied and the version of its own list', async () => {
    const migrate = () => {
      const child = spawn(process.execPath, ['src/cli.ts', 'migrate'], {
        env: { PATH: process.env.PATH, DATABASE_URL: `file:${path}` },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      return new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout })));
    };
    const latest = sqliteMigrations.at(-1)!.version;
    expect(await migrate()).toEqual({
      code: 0,
      stdout: [...sqliteMigrations.map(({ version, name }) => `applied ${version} ${name}`), `SQLite schema is at version ${latest}`, ''].join('\n'),
    });
    expect(await migrate()).toEqual({ code: 0, stdout: `nothing to apply\nSQLite schema is at version ${latest}\n` });
  });

  it('keeps no column in the events table that nothing reads', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.close();
    const columns = inspect((db) => db.prepare('SELECT name FROM pragma_table_info(?)').all('events')) as { name: string }[];
    expect(columns.map((column) => column.name)).toEqual(['seq', 'id', 'name', 'created_at', 'api_key', 'body', 'received_at', 'room', 'participant']);
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

  it('keeps the sessions, their history and event outcomes of a database migrated before version 6', async () => {
    const slimming = sqliteMigrations.findIndex((migration) => migration.name === 'slim_session_tables');
    inspect((db) => {
      db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      for (const migration of sqliteMigrations.slice(0, slimming)) {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(migration.version, migration.name, '2026-01-01T00:00:00Z');
      }
      db.exec(`
        INSERT INTO events (id, name, created_at, api_key, body, received_at, matched, actions)
          VALUES ('EV_2', 'room_finished', 1700000100, 'APIkey', '{}', '2026-01-01T00:02:00Z', '["stop"]', '[{"rule":"stop"}]');
        INSERT INTO sessions VALUES ('room:a', 'stopped', 'EV_2', 1700000100, 2, '2026-01-01T00:02:00Z');
        INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at) VALUES
          ('room:a', 'live', 'ready', 'EV_1', 'room_started', 1700000000, '2026-01-01T00:01:00Z'),
          ('room:a', 'stopped', 'live', 'EV_2', 'room_finished', 1700000100, '2026-01-01T00:02:00Z');
      `);
    });

    const store = new SqliteStore(path);
    expect((await store.migrate()).map((migration) => migration.name)).toEqual(
      sqliteMigrations.slice(slimming).map((migration) => migration.name),
    );
    // The outcome an older version wrote into the event's row is still the event's outcome.
    expect(await store.getEvent('EV_2')).toMatchObject({ matched: ['stop'], actions: [{ rule: 'stop' }] });
    expect(await store.getSession('room:a')).toMatchObject({
      status: 'stopped',
      eventId: 'EV_2',
      history: [
        { status: 'stopped', oldStatus: 'live', eventId: 'EV_2' },
        { status: 'live', oldStatus: 'ready', eventId: 'EV_1' },
      ],
    });
    // An older event still cannot overwrite the status; a newer one can, and its history comes after the rest.
    await store.transaction(async (tx) => {
      const recorded = await tx.recordEvent(eventRecord('EV_3'));
      if (recorded.duplicate) throw new Error('unexpected duplicate');
      const late = await tx.transitionSession({ key: 'room:a', status: 'live' }, { id: 'EV_3', name: 'room_started', createdAt: 1_700_000_050, seq: recorded.seq });
      expect(late.applied).toBe(false);
      await tx.transitionSession({ key: 'room:a', status: 'archived' }, { id: 'EV_3', name: 'room_finished', createdAt: 1_700_000_200, seq: recorded.seq });
    });
    expect((await store.getSession('room:a'))?.history.map((entry) => entry.status)).toEqual(['archived', 'stopped', 'live']);
    await store.close();
    // One b-tree now holds both: the old tables are gone.
    const tables = inspect((db) => db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'session%'").all());
    expect(tables.map((row) => row.name)).toEqual(['session_rows']);
  });

  it('numbers again, in the order they ran, the attempts of deliveries replayed before version 15', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    const [replayed, retried] = await store.transaction(async (tx) => {
      await tx.recordEvent(eventRecord('EV_1'));
      const delivery = (ruleId: string) => tx.enqueueDelivery({
        eventId: 'EV_1', eventSeq: 1, eventName: 'room_started', ruleId, actionIndex: 0, plugin: 'http', params: {},
        target: 'hooks.example.test', orderingKey: null, maxAttempts: 2, retrySchedule: [1_000], timeoutMs: 10_000, dueAt: new Date(),
      });
      return [(await delivery('replayed')).id, (await delivery('retried')).id];
    });
    await store.close();
    // As an older release left them: a replay's attempts started again at 1.
    inspect((db) => {
      const attempt = db.prepare(`INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, succeeded)
        VALUES (?, ?, '2026-01-01T00:00:00.000Z', 5, 0)`);
      for (const number of [1, 2, 1, 1]) attempt.run(replayed, number);
      for (const number of [1, 2]) attempt.run(retried, number);
      db.exec('DROP TABLE minute_latency; DELETE FROM schema_migrations WHERE version = 15');
    });

    const migrated = new SqliteStore(path);
    expect((await migrated.migrate()).map((migration) => migration.version)).toEqual([15]);
    expect((await migrated.getDelivery(replayed))?.attemptLog.map((attempt) => attempt.number)).toEqual([1, 2, 3, 4]);
    expect((await migrated.getDelivery(retried))?.attemptLog.map((attempt) => attempt.number)).toEqual([1, 2]);
    await migrated.close();
  });

  it('keeps a committed event when the process that wrote it is killed', async () => {
    const output = await killWhen('commit-then-wait.ts', [`file:${path}`, 'EV_survivor'], (text) =>
      text.includes('committed'),
    );
    expect(output).toContain('committed');

    const store = new SqliteStore(path);
    await store.migrate();
    expect(await store.getEvent('EV_survivor')).toMatchObject({ id: 'EV_survivor' });
    await store.close();
  });

  it('keeps the delivery index for the ordering check in step with UNFINISHED_STATES', async () => {
    const store = new SqliteStore(path);
    await store.migrate();
    await store.close();
    const index = inspect((db) =>
      db.prepare("SELECT sql FROM sqlite_master WHERE name = 'deliveries_unfinished_by_ordering_group'").get(),
    );
    const listed = UNFINISHED_STATES.map((state) => `'${state}'`).join(', ');
    expect(index?.sql).toContain(`state IN (${listed})`);
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

  describe('group commit', () => {
    let store: SqliteStore;
    const originalPrepare = DatabaseSync.prototype.prepare;
    const originalRun = StatementSync.prototype.run;

    beforeEach(async () => {
      store = new SqliteStore(path);
      await store.migrate();
    });

    afterEach(async () => {
      vi.restoreAllMocks();
      await store.close();
    });

    /**
     * Replaces the statements `replace` answers (the store runs BEGIN, SAVEPOINT, RELEASE and COMMIT as prepared
     * statements); the others run as usual. Returns the SQL of every statement run.
     */
    function interceptStatements(replace: (db: DatabaseSync, sql: string) => boolean): string[] {
      const databaseOf = new WeakMap<StatementSync, DatabaseSync>();
      vi.spyOn(DatabaseSync.prototype, 'prepare').mockImplementation(function (this: DatabaseSync, sql: string) {
        const statement = originalPrepare.call(this, sql);
        databaseOf.set(statement, this);
        return statement;
      });
      const run: string[] = [];
      // The store binds positional parameters only.
      const positionalRun = originalRun as (this: StatementSync, ...params: SQLInputValue[]) => StatementResultingChanges;
      vi.spyOn(StatementSync.prototype, 'run').mockImplementation(function (this: StatementSync, ...params: unknown[]) {
        run.push(this.sourceSQL);
        if (replace(databaseOf.get(this)!, this.sourceSQL)) return { changes: 0, lastInsertRowid: 0 };
        return positionalRun.apply(this, params as SQLInputValue[]);
      });
      return run;
    }

    function record(id: string): Promise<unknown> {
      return store.transaction((tx) => tx.recordEvent(eventRecord(id)));
    }

    const ids = (count: number) => Array.from({ length: count }, (_, index) => `EV_${index}`);

    it('commits the transactions queued in one turn together, at most 64 to a COMMIT', async () => {
      const run = interceptStatements(() => false);
      await Promise.all(ids(130).map(record));
      expect(run.filter((sql) => sql === 'COMMIT')).toHaveLength(3);
    });

    it('waits for the end of the event-loop turn, so transactions from its separate callbacks share a COMMIT', async () => {
      const run = interceptStatements(() => false);
      // Immediates queued together run in one turn, each callback after the one before has settled its
      // microtasks. (Timers of 0 ms may fall due a millisecond apart, in two turns.)
      await Promise.all(
        ids(10).map((id) => new Promise((resolve) => setImmediate(() => resolve(record(id))))),
      );
      expect(run.filter((sql) => sql === 'COMMIT')).toHaveLength(1);
    });

    it('resolves each transaction only once it is committed, and keeps it across a reopen', async () => {
      // A connection of its own sees only what has been committed.
      const observer = new DatabaseSync(path);
      const visibleWhenResolved = await Promise.all(
        ids(200).map((id) =>
          record(id).then(() => observer.prepare('SELECT id FROM events WHERE id = ?').get(id) !== undefined),
        ),
      );
      observer.close();
      expect(visibleWhenResolved.every(Boolean)).toBe(true);
      await store.close();

      store = new SqliteStore(path);
      for (const id of ids(200)) expect(await store.getEvent(id), id).not.toBeNull();
    });

    it('keeps every transaction it resolved when the process is killed mid-stream', { timeout: 30_000 }, async () => {
      const enough = (text: string) => text.split('\n').length > 2_000;
      const output = await killWhen('commit-continuously.ts', [`file:${path}`], enough);
      const resolved = output.split('\n').slice(0, -1);
      expect(resolved.length).toBeGreaterThanOrEqual(2_000);
      const reopened = new SqliteStore(path);
      for (const id of resolved) expect(await reopened.getEvent(id), id).not.toBeNull();
      await reopened.close();
    });

    it('rejects a failing transaction at once, its batch-mates once they are committed', async () => {
      const settled: string[] = [];
      await Promise.all(
        ['EV_a', 'EV_b', 'EV_c'].map((id) =>
          store
            .transaction(async (tx) => {
              await tx.recordEvent(eventRecord(id));
              if (id === 'EV_b') throw new Error('b fails');
            })
            .then(
              () => settled.push(`${id} resolved`),
              () => settled.push(`${id} rejected`),
            ),
        ),
      );
      expect(settled).toEqual(['EV_b rejected', 'EV_a resolved', 'EV_c resolved']);
      expect(await store.getEvent('EV_b')).toBeNull();
    });

    it('rejects every transaction of a batch whose COMMIT fails, keeps none of them, and carries on', async () => {
      let failed = false;
      interceptStatements((_db, sql) => {
        if (sql !== 'COMMIT' || failed) return false;
        failed = true;
        throw sqliteError(10, 'disk I/O error');
      });
      const outcomes = await Promise.allSettled(ids(5).map(record));
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE' } });
      }
      for (const id of ids(5)) expect(await store.getEvent(id), id).toBeNull();
      await record('EV_after');
      expect(await store.getEvent('EV_after')).not.toBeNull();
    });

    it('rejects a transaction whose savepoint cannot be released, and runs the rest anew', async () => {
      let failed = false;
      interceptStatements((_db, sql) => {
        if (sql !== 'RELEASE batch_member' || failed) return false;
        failed = true;
        throw sqliteError(10, 'disk I/O error');
      });
      const outcomes = await Promise.allSettled([record('EV_a'), record('EV_b')]);
      expect(outcomes).toMatchObject([
        { status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE' } },
        { status: 'fulfilled' },
      ]);
      expect(await store.getEvent('EV_a')).toBeNull();
      expect(await store.getEvent('EV_b')).not.toBeNull();
    });

    it('rejects the batch-mates already run when SQLite rolls the whole batch back, and runs the rest anew', async () => {
      // A full disk can make SQLite roll back the whole transaction, not only the failing statement.
      interceptStatements((db, sql) => {
        if (sql !== 'SAVEPOINT step') return false;
        db.exec('ROLLBACK');
        throw sqliteError(13, 'database or disk is full');
      });
      const outcomes = await Promise.allSettled([
        record('EV_a'),
        store.transaction((tx) => tx.savepoint(() => tx.recordEvent(eventRecord('EV_b')))),
        record('EV_c'),
      ]);
      expect(outcomes).toMatchObject([
        { status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining('batch') } },
        { status: 'rejected', reason: { code: 'E_STORE_UNAVAILABLE', message: expect.stringContaining('full') } },
        { status: 'fulfilled' },
      ]);
      expect(await store.getEvent('EV_a')).toBeNull();
      expect(await store.getEvent('EV_c')).not.toBeNull();
    });
  });

  it('works in memory', async () => {
    const store = await openStore('file::memory:');
    await store.migrate();
    await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')));
    expect(await store.getEvent('EV_1')).not.toBeNull();
    await store.close();
  });
});
