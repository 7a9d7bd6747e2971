/**
 * The seam between the store, written once (sql/store.ts), and a database: what SQLite and PostgreSQL write or
 * decode differently. Statements are written with PostgreSQL's `$1, $2, …` placeholders; a dialect turns them into
 * its own.
 */
import type { CurrentSession } from './session-transition.ts';
import type { SessionTransition } from '../../plugins/contract.ts';
import type { OrderingEvent } from '../store.ts';

/** A statement: its text, or its text and the name it is prepared under once per connection (PostgreSQL). */
export type Sql = string | { name: string; text: string };

/** Runs statements on a connection, a pool or inside a transaction. Dates, booleans and arrays bind as they are. */
export interface Executor {
  rows<Row>(sql: Sql, values?: readonly unknown[]): Promise<Row[]>;
  /** Runs a statement, returning how many rows it changed. */
  run(sql: Sql, values?: readonly unknown[]): Promise<number>;
  /**
   * Runs an INSERT … ON CONFLICT DO NOTHING that ends with Dialect.returningKey: the new row's integer key, or null
   * when a row of that key was already there.
   */
  insertedKey(sql: Sql, values?: readonly unknown[]): Promise<number | null>;
}

/** The types a parameter may need spelled out, where the dialect cannot infer them. */
export type ParameterType = 'text' | 'integer' | 'bigint' | 'timestamptz';

/** A session's status change as the store decided it, for the dialect to write. */
export interface SessionChange {
  key: string;
  transition: SessionTransition;
  event: OrderingEvent;
  /** The session as `current` read it; null before its first change. */
  current: StoredSession | null;
  at: Date;
}

/** A session's current row as a dialect reads it; `history` counts its history rows where the dialect keeps one. */
export interface StoredSession extends CurrentSession {
  history?: number;
}

/** What the data lifecycle (retention.ts, erasure.ts) does differently in a dialect. */
export interface LifecycleDialect {
  /** Ends the statement that confirms the rows a prune batch takes: locks them until commit, passing over busy ones. */
  lock: string;
  /**
   * Session history rows: the table, the expression naming one row, the condition that it is among a bound list;
   * `written` where the key is numbered in the order rows are written (see retention.ts), else `order` is indexed.
   */
  sessionHistory: { table: string; key: string; keyIn(placeholder: string): string; where: string; order: string; written?: string };
  /**
   * Run first in each prune batch's transaction, where its commit may return before the log is flushed
   * (PostgreSQL's synchronous_commit): a batch lost in a crash is taken again by the next run, tombstones and all,
   * and a batch that waited for its flush would hold the log's flush while ingest's commits queue behind it. Null
   * where commits share one flush anyway (SQLite's group commit).
   */
  deferFlush: string | null;
  /** Where an event's outcome has a row of its own (SQLite): removed with the event. */
  outcomeRow: { table: string; column: string } | null;
  /**
   * One step giving at most `pages` free pages back to the file system (SQLite's incremental vacuum), true while
   * more are left to give; false at once where the database makes freed space reusable by itself.
   */
  reclaim(db: Executor, pages: number): Promise<boolean>;
}

export interface Dialect {
  /** A statement in this dialect: placeholders turned, and `name`d to be prepared once where that is done. */
  statement(text: string, name?: string): Sql;
  /** A parameter whose type the statement alone does not settle. */
  typed(placeholder: string, type: ParameterType): string;
  /** The condition that a boolean column is true. */
  isTrue(column: string): string;
  /**
   * What ends an INSERT to give Executor.insertedKey the new row's key, an INTEGER PRIMARY KEY in SQLite: there
   * the statement's own result has it, and a RETURNING clause would cost the insert as much again.
   */
  returningKey(column: string): string;
  /** Whether a statement's WITH may write (PostgreSQL): then writes that go together take one round trip. */
  writableCte: boolean;
  /** The condition that `column` is (`in`) or is not one of the values of the array bound at `placeholder`. */
  inList(column: string, placeholder: string, type: 'bigint' | 'text' | 'timestamptz', negated?: boolean): string;

  readDate(value: unknown): Date;
  readJson<T>(value: unknown): T;
  readBool(value: unknown): boolean;

  /**
   * How the claim's UPDATE picks the first of the candidates its two scans found (due deliveries, expired leases) in
   * `firstDue` order: what stands before the UPDATE, after its SET, and as its WHERE.
   */
  claimChosen(scans: { due: string; expired: string; firstDue: string }): { before: string; from: string; where: string };
  /** What a claim's scan adds after its table (to use `index`) and at its end (to lock what it found). */
  claimScan(index: 'deliveries_claimable' | 'deliveries_leased'): { from: string; lock: string };

  /**
   * Moves a delivery on from its attempt and records the attempt (FINISH_ATTEMPT, then the attempt's row), with the
   * values of `completionValues`; false, and nothing written, when the lease was lost.
   */
  completeAttempt(db: Executor, values: readonly unknown[]): Promise<boolean>;

  /** Called before a delivery of an ordering group is queued, so concurrent writers of the group take turns. */
  lockOrderingGroup(db: Executor, group: string): Promise<void>;

  /** Where an event's outcome is kept: statements with the parameters (matched, actions, event id) and (event id). */
  outcomes: { save: Sql; selectEvent: Sql };

  lifecycle: LifecycleDialect;

  sessions: {
    /** The session's current row, locked until the transaction ends where writers run side by side. */
    current(db: Executor, key: string): Promise<StoredSession | null>;
    save(db: Executor, change: SessionChange): Promise<void>;
    /** (key) → key, status, updatedAt, eventId. */
    selectSession: Sql;
    /** (key, limit) → the newest history entries first. */
    selectHistory: Sql;
    /** The sessions' current rows as a table (`AS sessions`) with the columns key, status, event_id, updated_at. */
    currentRows: string;
  };
}
