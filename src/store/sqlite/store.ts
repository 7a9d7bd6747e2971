/**
 * The Store on SQLite (`node:sqlite`). Transactions run one at a time on a writer connection, committed in groups
 * (group-commit.ts); reads use a second connection, so while a transaction awaits plugin code they see only
 * what is committed.
 */
import { pendingMigrations, type Migration } from '../sql/migration.ts';
import { COLUMN_TYPES, migrationRecord } from '../sql/schema.ts';
import { dialectSql } from '../sql/dialect-sql.ts';
import { SqlStore } from '../sql/store.ts';
import type { Leadership } from '../live-picture.ts';
import type { Executor } from '../sql/dialect.ts';
import { Checkpointer } from './checkpointer.ts';
import { Connection, type FatalFailureHandler } from './connection.ts';
import { executor, sqliteDialect } from './dialect.ts';
import { GroupCommit, SerialQueue } from './group-commit.ts';
import { sqliteMigrations } from './migrations.ts';
import { WalFlush } from './wal-flush.ts';

// node:sqlite is synchronous: waiting on another process's lock blocks the event loop for up to this long.
const BUSY_TIMEOUT_MS = 5_000;

// synchronous = NORMAL: COMMIT does not wait for the disk, WalFlush makes each batch durable before it is
// acknowledged, so an acknowledged event survives a crash or power loss, as with FULL, without blocking the loop.
// wal_autocheckpoint = 0: the Checkpointer's thread checkpoints instead of the COMMIT that crosses the threshold.
// journal_size_limit: the log is used again from its start once checkpointed, and keeps the size it grew to; past
// 32 MiB (twice what a checkpoint lets it reach) it is cut back when it starts over, so a burst of writes (a large
// prune or erasure, a migration) does not hold its disk space for good.
// auto_vacuum = INCREMENTAL: on a new file (it takes effect only before the first table), pages the pruner frees can be
// given back (Dialect.lifecycle.reclaim); an older file keeps reusing its free pages, and gives them back after an
// offline `VACUUM` with this pragma set.
// temp_store = MEMORY: every transaction and inline action runs in a savepoint, whose journal SQLite otherwise
// spills to a temporary file, created, written and deleted for nearly every batch.
// cache_size: SQLITE_CACHE_MB for the writer, 8 MiB unless set (SQLite's default is 2 MiB), enough for the index pages
// that new events and sessions land in; what falls out of it is read back from the operating system's file cache,
// not the disk. It is resident memory once the files are that large (decision 0016).
const DEFAULT_CACHE_MIB = 8;
const writerPragmas = (cacheMiB: number) => `
  PRAGMA auto_vacuum = INCREMENTAL;
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  PRAGMA wal_autocheckpoint = 0;
  PRAGMA journal_size_limit = ${32 * 2 ** 20};
  PRAGMA foreign_keys = ON;
  PRAGMA cache_size = ${-cacheMiB * 1024};
  PRAGMA temp_store = MEMORY;
`;
const READER_PRAGMAS = `
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA query_only = ON;
`;

const SQLITE = dialectSql(sqliteDialect);

const MIGRATION_SQL = {
  ...migrationRecord(COLUMN_TYPES.sqlite, (text) => sqliteDialect.statement(text) as string),
  isApplied: 'SELECT 1 AS applied FROM schema_migrations WHERE version = ?',
};

export interface SqliteStoreOptions {
  /** The writer's page cache, MiB (SQLITE_CACHE_MB). */
  cacheMiB?: number;
  /** Told about trouble in background work (a failed checkpoint) that no caller is waiting on. */
  onWarning?: (message: string) => void;
  /**
   * Told when SQLite reports an I/O error or a corrupt file (SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB): the
   * connection is past use, and the process should exit so that its supervisor restarts it.
   */
  onFatal?: FatalFailureHandler;
}

export class SqliteStore extends SqlStore {
  readonly kind = 'sqlite';
  readonly #writer: Connection;
  readonly #reader: Connection;
  readonly #writerSql: Executor;
  readonly #readerSql: Executor;
  readonly #writes = new SerialQueue();
  readonly #commits: GroupCommit;
  /** Both null in memory, where there is no disk to wait for and no log. */
  readonly #walFlush: WalFlush | null;
  readonly #checkpointer: Checkpointer | null;
  /** The writer's total_changes() after the last batch. */
  #changes = 0;

  /** Opens, creating if needed, the database at `location`: a file path or `:memory:`. */
  constructor(location: string, options: SqliteStoreOptions = {}) {
    super(SQLITE);
    const inMemory = location === ':memory:';
    this.#writer = new Connection(location, writerPragmas(options.cacheMiB ?? DEFAULT_CACHE_MIB), options.onFatal);
    // A second connection to `:memory:` would open another, empty database; in memory, reads share the writer.
    this.#reader = inMemory ? this.#writer : this.#openReader(location, options.onFatal);
    this.#writerSql = executor(this.#writer);
    this.#readerSql = executor(this.#reader);
    this.#walFlush = inMemory ? null : new WalFlush(location);
    this.#commits = new GroupCommit(this.#writer, this.#writes, () => {
      // A batch that changed no row (an idle worker's claims, four a second) left nothing in the log to copy: not
      // counted, an idle process starts no checkpoint, nor the checkpoint thread (docs/performance.md, memory).
      if (this.#checkpointer !== null && this.#changedRows()) this.#checkpointer.committed();
      return this.#durable();
    });
    this.#checkpointer = inMemory
      ? null
      : new Checkpointer({ location, busyTimeoutMs: BUSY_TIMEOUT_MS }, {
          pauseWrites: () => this.#commits.pause(),
          onWarning: options.onWarning,
        });
  }

  async migrate(): Promise<Migration[]> {
    this.assertOpen();
    const applied = await this.#writes.run(async () => {
      this.#writer.exec(MIGRATION_SQL.create);
      const done = this.#writer.all<{ version: number }>(MIGRATION_SQL.appliedVersions).map((row) => row.version);
      return pendingMigrations(sqliteMigrations, done).filter((migration) => this.#applyMigration(migration));
    });
    await this.#durable();
    return applied;
  }

  /** Transactions queued together commit together: each resolves once its batch is durable (see GroupCommit). */
  protected async runTransaction<T>(work: (executor: Executor) => Promise<T>): Promise<T> {
    this.assertOpen();
    return this.#commits.run(() => work(this.#writerSql));
  }

  /** A batch's statements run on the event loop: held to about 2 ms (docs/decisions/0010-retention-bounded-batches.md). */
  override readonly pruneBudgetMs = 4;

  /** Waits for the transactions queued so far to commit (a no-op transaction queued behind them). */
  override async yieldToWrites(): Promise<void> {
    await this.runTransaction(async () => undefined);
  }

  /** Waits for a checkpoint to copy the log the transactions so far wrote into the database file. */
  override async letDiskCatchUp(): Promise<void> {
    await this.#checkpointer?.caughtUp();
  }

  /** One process writes a SQLite file: it always leads. */
  async tryLead(): Promise<Leadership> {
    this.assertOpen();
    return { held: async () => true, release: async () => undefined };
  }

  protected async read<T>(work: (db: Executor) => Promise<T>): Promise<T> {
    this.assertOpen();
    return work(this.#readerSql);
  }

  /** Lets transactions already started or queued finish, then closes. */
  protected async shutdown(): Promise<void> {
    await this.#commits.drained();
    await this.#writes.run(async () => {
      await this.#checkpointer?.stop();
      await this.#walFlush?.close();
      this.#reader.close();
      this.#writer.close();
    });
  }

  /** Whether the writer changed a row since the last call. */
  #changedRows(): boolean {
    const { changes } = this.#writer.get<{ changes: number }>('SELECT total_changes() AS changes')!;
    const changed = changes !== this.#changes;
    this.#changes = changes;
    return changed;
  }

  #durable(): Promise<void> {
    return this.#walFlush?.flush() ?? Promise.resolve();
  }

  #openReader(location: string, onFatal: FatalFailureHandler | undefined): Connection {
    try {
      return new Connection(location, READER_PRAGMAS, onFatal);
    } catch (error) {
      this.#writer.close();
      throw error;
    }
  }

  /**
   * Applies one migration in its own transaction; the caller holds the writer. True when this call applied it;
   * false when another process had, since we looked.
   */
  #applyMigration(migration: Migration): boolean {
    this.#writer.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have applied it since we looked; holding the write lock now settles that.
      const pending = !this.#writer.get(MIGRATION_SQL.isApplied, migration.version);
      if (pending) {
        this.#writer.exec(migration.sql);
        this.#writer.run(MIGRATION_SQL.record, migration.version, migration.name, new Date().toISOString());
      }
      this.#writer.exec('COMMIT');
      return pending;
    } catch (error) {
      this.#writer.rollback();
      throw error;
    }
  }
}

