/**
 * The Store on SQLite (`node:sqlite`). Transactions run one at a time on a writer connection; reads use a second
 * connection, so while a transaction awaits plugin code they see only what is committed.
 */
import { DatabaseSync, type SQLInputValue, type StatementResultingChanges, type StatementSync } from 'node:sqlite';
import { SwitchboardError } from '../errors.ts';
import type { SessionTransition, SessionTransitionRequest } from '../plugins/contract.ts';
import { pendingMigrations, type Migration } from './migrations/migration.ts';
import { sqliteMigrations } from './migrations/sqlite.ts';
import { decideTransition, type CurrentSession } from './session-transition.ts';
import type {
  EventOutcome,
  EventRecord,
  OrderingEvent,
  SessionHistoryEntry,
  SessionStatus,
  Store,
  StoredEvent,
  StoreTx,
} from './store.ts';

const SESSION_HISTORY_LIMIT = 100;
// node:sqlite is synchronous: waiting on another process's lock blocks the event loop for up to this long.
const BUSY_TIMEOUT_MS = 5_000;

// synchronous = FULL: an acknowledged event must survive a crash or power loss, not only a process exit.
const WRITER_PRAGMAS = `
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  PRAGMA foreign_keys = ON;
`;
const READER_PRAGMAS = `
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA query_only = ON;
`;

const SQL = {
  createSchemaMigrations: `
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`,
  appliedVersions: 'SELECT version FROM schema_migrations ORDER BY version',
  isApplied: 'SELECT 1 AS applied FROM schema_migrations WHERE version = ?',
  recordMigration: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  insertEvent: `
    INSERT INTO events (id, name, created_at, api_key, body, received_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO NOTHING
    RETURNING seq`,
  saveOutcome: 'UPDATE events SET matched = ?, actions = ? WHERE id = ?',
  selectEvent: `
    SELECT seq, id, name, created_at AS createdAt, api_key AS apiKey, body, received_at AS receivedAt, matched, actions
    FROM events WHERE id = ?`,
  selectSessionOrder: `
    SELECT status, event_created_at AS eventCreatedAt, event_seq AS eventSeq FROM sessions WHERE key = ?`,
  upsertSession: `
    INSERT INTO sessions (key, status, event_id, event_created_at, event_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET
      status = excluded.status,
      event_id = excluded.event_id,
      event_created_at = excluded.event_created_at,
      event_seq = excluded.event_seq,
      updated_at = excluded.updated_at`,
  insertHistory: `
    INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
  selectSession: 'SELECT key, status, updated_at AS updatedAt, event_id AS eventId FROM sessions WHERE key = ?',
  selectHistory: `
    SELECT status, old_status AS oldStatus, event_id AS eventId, event_name AS eventName,
      event_created_at AS eventCreatedAt, at
    FROM session_history WHERE key = ? ORDER BY id DESC LIMIT ?`,
  ping: 'SELECT 1 AS ok',
};

/** SQLite primary result codes that mean the database cannot serve us now, as opposed to a mistake in our SQL. */
const UNAVAILABLE_RESULT_CODES = new Set([
  5, // SQLITE_BUSY: still locked when the busy timeout ran out
  6, // SQLITE_LOCKED
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
]);

interface EventRow extends Omit<StoredEvent, 'receivedAt' | 'matched' | 'actions'> {
  receivedAt: string;
  matched: string;
  actions: string;
}

interface SessionRow extends Omit<SessionStatus, 'updatedAt' | 'history'> {
  updatedAt: string;
}

interface HistoryRow extends Omit<SessionHistoryEntry, 'at'> {
  at: string;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #writer: Connection;
  readonly #reader: Connection;
  readonly #writes = new SerialQueue();
  #closing: Promise<void> | null = null;

  /** Opens, creating if needed, the database at `location`: a file path or `:memory:`. */
  constructor(location: string) {
    this.#writer = new Connection(location, WRITER_PRAGMAS);
    // A second connection to `:memory:` would open another, empty database; in memory, reads share the writer.
    this.#reader = location === ':memory:' ? this.#writer : this.#openReader(location);
  }

  async migrate(): Promise<void> {
    this.#assertOpen();
    await this.#writes.run(async () => {
      this.#writer.exec(SQL.createSchemaMigrations);
      const applied = this.#writer.all<{ version: number }>(SQL.appliedVersions).map((row) => row.version);
      for (const migration of pendingMigrations(sqliteMigrations, applied)) {
        await this.#withinTransaction(() => this.#apply(migration));
      }
    });
  }

  async transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#writes.run(() =>
      this.#withinTransaction(async () => {
        const tx = new SqliteTx(this.#writer);
        try {
          return await work(tx);
        } finally {
          tx.end();
        }
      }),
    );
  }

  async getEvent(id: string): Promise<StoredEvent | null> {
    this.#assertOpen();
    const row = this.#reader.get<EventRow>(SQL.selectEvent, id);
    if (!row) return null;
    return {
      ...row,
      receivedAt: new Date(row.receivedAt),
      matched: JSON.parse(row.matched),
      actions: JSON.parse(row.actions),
    };
  }

  async getSession(key: string): Promise<SessionStatus | null> {
    this.#assertOpen();
    const session = this.#reader.get<SessionRow>(SQL.selectSession, key);
    if (!session) return null;
    const history = this.#reader.all<HistoryRow>(SQL.selectHistory, key, SESSION_HISTORY_LIMIT);
    return {
      ...session,
      updatedAt: new Date(session.updatedAt),
      history: history.map((entry) => ({ ...entry, at: new Date(entry.at) })),
    };
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    this.#reader.get(SQL.ping);
  }

  /** Lets transactions already started or queued finish, then closes; later calls get E_STORE_UNAVAILABLE. */
  close(): Promise<void> {
    this.#closing ??= this.#writes.run(async () => {
      this.#reader.close();
      this.#writer.close();
    });
    return this.#closing;
  }

  #openReader(location: string): Connection {
    try {
      return new Connection(location, READER_PRAGMAS);
    } catch (error) {
      this.#writer.close();
      throw error;
    }
  }

  #assertOpen(): void {
    if (this.#closing) throw new SwitchboardError('E_STORE_UNAVAILABLE', 'The store is closed.');
  }

  /** Commits when `work` resolves, rolls back when it (or the commit) throws. The caller holds the write queue. */
  async #withinTransaction<T>(work: () => T | Promise<T>): Promise<T> {
    this.#writer.exec('BEGIN IMMEDIATE');
    try {
      const result = await work();
      this.#writer.exec('COMMIT');
      return result;
    } catch (error) {
      this.#writer.rollback();
      throw error;
    }
  }

  #apply(migration: Migration): void {
    // Another process may have applied it since we looked; holding the write lock now settles that.
    if (this.#writer.get(SQL.isApplied, migration.version)) return;
    this.#writer.exec(migration.sql);
    this.#writer.run(SQL.recordMigration, migration.version, migration.name, new Date().toISOString());
  }
}

/** The writes of one transaction. Refuses use once the transaction has ended, so a stray call cannot autocommit. */
class SqliteTx implements StoreTx {
  readonly #connection: Connection;
  #ended = false;
  #savepoints = 0;

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  end(): void {
    this.#ended = true;
  }

  async recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }> {
    const inserted = this.#db.get<{ seq: number }>(
      SQL.insertEvent,
      record.id,
      record.name,
      record.createdAt,
      record.apiKey,
      record.body,
      record.receivedAt.toISOString(),
    );
    return inserted ? { duplicate: false, seq: inserted.seq } : { duplicate: true };
  }

  async saveOutcome(eventId: string, outcome: EventOutcome): Promise<void> {
    const { changes } = this.#db.run(
      SQL.saveOutcome,
      JSON.stringify(outcome.matched),
      JSON.stringify(outcome.actions),
      eventId,
    );
    if (changes === 0) {
      throw new SwitchboardError('E_INTERNAL', `Cannot save the outcome of event ${eventId}: it was never recorded.`);
    }
  }

  async transitionSession(request: SessionTransitionRequest, event: OrderingEvent): Promise<SessionTransition> {
    const current = this.#db.get<CurrentSession>(SQL.selectSessionOrder, request.key) ?? null;
    const decision = decideTransition(current, request, event);
    if (!decision.applied) return decision;

    const at = new Date().toISOString();
    this.#db.run(SQL.upsertSession, request.key, decision.new_status, event.id, event.createdAt, event.seq, at);
    if (decision.new_status !== decision.old_status) {
      this.#db.run(
        SQL.insertHistory,
        request.key,
        decision.new_status,
        decision.old_status,
        event.id,
        event.name,
        event.createdAt,
        at,
      );
    }
    return decision;
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    const name = `savepoint_${++this.#savepoints}`;
    this.#db.exec(`SAVEPOINT ${name}`);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.#db.exec(`ROLLBACK TO ${name}`);
      this.#db.exec(`RELEASE ${name}`);
      throw error;
    }
    this.#db.exec(`RELEASE ${name}`);
    return result;
  }

  get #db(): Connection {
    if (this.#ended) {
      throw new SwitchboardError(
        'E_INTERNAL',
        'A store transaction was used after it ended: its writes must be awaited inside the transaction callback.',
      );
    }
    return this.#connection;
  }
}

/** One SQLite connection. Prepares each statement once; reports driver failures as E_STORE_UNAVAILABLE. */
class Connection {
  readonly #location: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(location: string, pragmas: string) {
    this.#location = location;
    this.#db = this.#surfaceFailure(() => new DatabaseSync(location));
    try {
      this.exec(pragmas);
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  exec(sql: string): void {
    this.#surfaceFailure(() => this.#db.exec(sql));
  }

  get<Row>(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#surfaceFailure(() => this.#prepared(sql).get(...params)) as Row | undefined;
  }

  all<Row>(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#surfaceFailure(() => this.#prepared(sql).all(...params)) as Row[];
  }

  run(sql: string, ...params: SQLInputValue[]): StatementResultingChanges {
    return this.#surfaceFailure(() => this.#prepared(sql).run(...params));
  }

  /** Rolls back the open transaction, if SQLite has not already rolled it back itself (as it does on some errors). */
  rollback(): void {
    if (this.#db.isOpen && this.#db.isTransaction) this.exec('ROLLBACK');
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #prepared(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #surfaceFailure<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      if (!isDriverFailure(error)) throw error;
      throw new SwitchboardError(
        'E_STORE_UNAVAILABLE',
        `The SQLite database at ${this.#location} is unavailable: ${error.message}`,
        { cause: error },
      );
    }
  }
}

function isDriverFailure(error: unknown): error is Error {
  if (!(error instanceof Error) || !('code' in error)) return false;
  // node:sqlite raises ERR_INVALID_STATE for a closed database or a finalized statement.
  if (error.code === 'ERR_INVALID_STATE') return true;
  return (
    error.code === 'ERR_SQLITE_ERROR' &&
    'errcode' in error &&
    typeof error.errcode === 'number' &&
    UNAVAILABLE_RESULT_CODES.has(error.errcode & 0xff)
  );
}

/** Runs tasks one at a time, in the order they were queued. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    // A failed task reports to its own caller; the tasks queued behind it still run.
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
