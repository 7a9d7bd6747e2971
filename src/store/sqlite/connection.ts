/** One SQLite connection for the SQLite store: prepared statements, and driver failures reported as E_STORE_UNAVAILABLE. */
import { DatabaseSync, type SQLInputValue, type StatementResultingChanges, type StatementSync } from 'node:sqlite';
import { SwitchboardError } from '../../errors.ts';

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

/**
 * Result codes after which the connection cannot be trusted again: an I/O error may have left SQLite's view of the
 * file out of step with the disk, and a corrupt file stays corrupt. Only a new process (a restart) recovers.
 */
const FATAL_RESULT_CODES = new Set([
  10, // SQLITE_IOERR
  11, // SQLITE_CORRUPT
  26, // SQLITE_NOTADB
]);

/** Told of a fatal driver failure (FATAL_RESULT_CODES), as it is thrown. */
export type FatalFailureHandler = (error: SwitchboardError) => void;

/** Prepares each statement once; reports driver failures as E_STORE_UNAVAILABLE, and fatal ones to `onFatal`. */
export class Connection {
  readonly #location: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #onFatal: FatalFailureHandler | undefined;

  constructor(location: string, pragmas: string, onFatal?: FatalFailureHandler) {
    this.#location = location;
    this.#onFatal = onFatal;
    try {
      this.#db = new DatabaseSync(location);
    } catch (error) {
      throw this.#surfaced(error);
    }
    try {
      this.exec(pragmas);
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /** Whether a transaction is open: SQLite rolls one back by itself on some errors. */
  get inTransaction(): boolean {
    return this.#db.isOpen && this.#db.isTransaction;
  }

  // Each call catches for itself rather than through a shared wrapper taking a closure: these run for every
  // statement of every event.
  exec(sql: string): void {
    try {
      this.#db.exec(sql);
    } catch (error) {
      throw this.#surfaced(error);
    }
  }

  get<Row>(sql: string, ...params: SQLInputValue[]): Row | undefined {
    try {
      return this.#prepared(sql).get(...params) as Row | undefined;
    } catch (error) {
      throw this.#surfaced(error);
    }
  }

  all<Row>(sql: string, ...params: SQLInputValue[]): Row[] {
    try {
      return this.#prepared(sql).all(...params) as Row[];
    } catch (error) {
      throw this.#surfaced(error);
    }
  }

  run(sql: string, ...params: SQLInputValue[]): StatementResultingChanges {
    try {
      return this.#prepared(sql).run(...params);
    } catch (error) {
      throw this.#surfaced(error);
    }
  }

  /** Rolls back the open transaction, if SQLite has not already rolled it back itself. */
  rollback(): void {
    if (this.inTransaction) this.exec('ROLLBACK');
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

  /** A driver failure as E_STORE_UNAVAILABLE; anything else (a mistake in our SQL) as it was. */
  #surfaced(error: unknown): unknown {
    if (!isDriverFailure(error)) return error;
    const surfaced = new SwitchboardError('E_STORE_UNAVAILABLE', `The SQLite database at ${this.#location} is unavailable: ${error.message}`, {
      cause: error,
    });
    if (isFatal(error)) this.#onFatal?.(surfaced);
    return surfaced;
  }
}

function isFatal(error: Error): boolean {
  return 'errcode' in error && typeof error.errcode === 'number' && FATAL_RESULT_CODES.has(error.errcode & 0xff);
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
