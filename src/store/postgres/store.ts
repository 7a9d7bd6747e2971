/**
 * The Store on PostgreSQL (`pg`), for several replicas on one database. Each transaction runs on a pooled connection
 * of its own, so replicas and concurrent requests write side by side; row locks, advisory locks and `SKIP LOCKED`
 * keep dedupe, session statuses, claims and ordering groups correct between them (see dialect.ts).
 */
import pg from 'pg';
import type { Executor } from '../sql/dialect.ts';
import { pendingMigrations, type Migration } from '../sql/migration.ts';
import { COLUMN_TYPES, migrationRecord } from '../sql/schema.ts';
import { dialectSql } from '../sql/dialect-sql.ts';
import { SqlStore, type TransactionPurpose } from '../sql/store.ts';
import { completionValues } from '../sql/transaction.ts';
import type {
  AttemptVerdict,
  ClaimedDelivery,
  ClaimRequest,
  CompletedClaimingNext,
  DeliveryAttempt,
  IngestPlan,
  NextOfGroupClaim,
  PrunedRows,
  RecordedIngest,
} from '../store.ts';
import type { Leadership } from '../live-picture.ts';
import { connect, postgresTarget, query, type PostgresTarget, type Sql } from './connection.ts';
import { completeAttemptSeeingNext, executor, postgresDialect } from './dialect.ts';
import { listenForFinishedGroups } from './group-wakeups.ts';
import { inOneStatement, recordIngestInOneStatement } from './ingest-function.ts';
import { postgresMigrations, postgresRetiredVersions } from './migrations.ts';
import { RoundTrips, type RoundTripKind } from './round-trips.ts';
import { vacuumPruned } from './vacuum.ts';

const POSTGRES = dialectSql(postgresDialect);

/** Held by `migrate()` for its duration, so replicas starting together migrate one at a time. */
const MIGRATION_LOCK_KEY = `hashtextextended('switchboard', 0)`;

const MIGRATION_SQL = {
  ...migrationRecord(COLUMN_TYPES.postgres, (text) => text),
  lockMigrations: `SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`,
  unlockMigrations: `SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`,
  schemaExists: 'SELECT 1 FROM pg_namespace WHERE nspname = $1',
};

// Per schema: stores in different schemas of one database are different Switchboards.
const RUN_ALONE = {
  tryLock: `SELECT pg_try_advisory_lock(hashtextextended($1 || ':' || current_schema(), 0)) AS locked`,
  unlock: `SELECT pg_advisory_unlock(hashtextextended($1 || ':' || current_schema(), 0))`,
};

export class PostgresStore extends SqlStore {
  readonly kind = 'postgres';
  readonly #target: PostgresTarget;
  readonly #pool: pg.Pool;
  /** Operations under way, which `close()` lets finish. */
  readonly #running = new Set<Promise<void>>();
  /** The statements this store's operations sent, by kind (see round-trips.ts). */
  readonly roundTrips = new RoundTrips();

  /** Reads `url` (see `postgresTarget` for its parameters); connects only when first used. */
  constructor(url: string) {
    super(POSTGRES);
    this.#target = postgresTarget(url);
    this.#pool = new pg.Pool(this.#target.pool);
    // An idle connection that breaks (a server restart, a terminated backend) leaves the pool, which opens another
    // when needed; a lasting failure is reported by the next query. Without a listener it would crash the process.
    this.#pool.on('error', () => undefined);
  }

  /**
   * Applies the migrations the database lacks, each in its own transaction, under an advisory lock so replicas
   * starting together take turns; returns those it applied. Creates the schema `?schema=` names.
   */
  migrate(): Promise<Migration[]> {
    return this.#use(async () => {
      const client = await connect(this.#pool, this.#target.display);
      const run = (sql: Sql, values: unknown[] = []) => query(client, this.#target.display, sql, values);
      try {
        await run(MIGRATION_SQL.lockMigrations);
        const { schema } = this.#target;
        // Looked up first: creating, even IF NOT EXISTS, needs a privilege a role that only uses the schema may lack.
        if (schema !== null && (await run(MIGRATION_SQL.schemaExists, [schema])).rowCount === 0) {
          await run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        }
        await run(MIGRATION_SQL.create);
        const applied = (await run(MIGRATION_SQL.appliedVersions)).rows.map((row) => row.version as number);
        const pending = pendingMigrations(postgresMigrations, applied, postgresRetiredVersions);
        for (const migration of pending) {
          await run('BEGIN');
          await run(migration.sql);
          await run(MIGRATION_SQL.record, [migration.version, migration.name, new Date()]);
          await run('COMMIT');
        }
        await run(MIGRATION_SQL.unlockMigrations);
        client.release();
        return pending;
      } catch (error) {
        // Closing the connection rolls back the failed migration and releases the lock.
        client.release(true);
        throw error;
      }
    });
  }

  /** Commits when `work` resolves, rolls back when it throws; each transaction has a connection of its own. */
  protected runTransaction<T>(work: (executor: Executor) => Promise<T>, purpose: TransactionPurpose): Promise<T> {
    return this.#use(async () => {
      const client = await connect(this.#pool, this.#target.display);
      const db = this.#executor(client, purpose === 'ingest' ? 'ingest' : 'transaction');
      // A connection that breaks while `work` awaits something else would otherwise crash the process with an
      // unhandled 'error'; the failure shows in the next statement instead.
      const ignore = () => undefined;
      client.on('error', ignore);
      const finish = (discard: boolean) => {
        client.off('error', ignore);
        client.release(discard);
      };
      try {
        await db.run('BEGIN');
        // Ended before COMMIT, so a stray call after `work` settled cannot run outside the transaction.
        const result = await work(db);
        await db.run('COMMIT');
        finish(false);
        return result;
      } catch (error) {
        const rolledBack = await db.run('ROLLBACK').then(
          () => true,
          () => false,
        );
        finish(!rolledBack);
        throw error;
      }
    });
  }

  /**
   * Under a session advisory lock tried on a connection held for the run: another replica running `name` has it,
   * and this one skips. Released with the connection, should the process die.
   */
  override runAlone(name: string, work: () => Promise<void>): Promise<boolean> {
    return this.#use(async () => {
      const { display } = this.#target;
      const client = await connect(this.#pool, display);
      const key = [`switchboard.${name}`];
      try {
        const [{ locked }] = (await query(client, display, RUN_ALONE.tryLock, key)).rows as Array<{ locked: boolean }>;
        if (!locked) return false;
        try {
          await work();
        } finally {
          await query(client, display, RUN_ALONE.unlock, key);
        }
        return true;
      } finally {
        client.release();
      }
    });
  }

  /** One statement on the pool, with no BEGIN and COMMIT around it (Dialect.completeAttempt). */
  override completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    const mark = { wrote: false };
    const completing = this.#use(async () => {
      const db = this.#executor(this.#pool, 'completion');
      mark.wrote = await postgresDialect.completeAttempt(db, completionValues(owner, attempt, verdict));
      return mark.wrote;
    });
    return this.health.watch(completing, mark);
  }

  /**
   * The completion's one statement then, when it freed a group whose next is waiting, that next's claim: a second
   * statement on the pool, atomic alone. The completion's NOTIFY also wakes the other replicas; whichever claims the
   * next first runs it, and the others' claims pass it over.
   */
  override completeAttemptClaimingNext(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict, next: NextOfGroupClaim): Promise<CompletedClaimingNext> {
    const mark = { wrote: false };
    const completing = this.#use(async (): Promise<CompletedClaimingNext> => {
      const db = this.#executor(this.#pool, 'completion');
      const { recorded, nextWaiting } = await completeAttemptSeeingNext(db, completionValues(owner, attempt, verdict));
      mark.wrote = recorded;
      if (!nextWaiting) return { recorded, next: null };
      return { recorded, next: await this.withoutTransaction(db, (tx) => tx.claimNextOfGroup(next), mark) };
    });
    return this.health.watch(completing, mark);
  }

  /** One statement on the pool: the claim reads and leases at once (Dialect.claimChosen). */
  override claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const mark = { wrote: false };
    const claiming = this.#use(() => this.withoutTransaction(this.#executor(this.#pool, 'claim'), (tx) => tx.claimDueDeliveries(request), mark));
    return this.health.watch(claiming, mark);
  }

  /** One statement on the pool when every write is known beforehand (ingest-function.ts), else a transaction. */
  override recordIngest(plan: IngestPlan): Promise<RecordedIngest> {
    if (!inOneStatement(plan)) return super.recordIngest(plan);
    const mark = { wrote: false };
    const recording = this.#use(async () => {
      const recorded = await recordIngestInOneStatement(this.#executor(this.#pool, 'ingest'), plan);
      mark.wrote = recorded.recorded;
      return recorded;
    });
    return this.health.watch(recording, mark);
  }

  /** On a connection of its own, outside any transaction, as VACUUM must run. */
  override vacuumPruned(pruned: PrunedRows): Promise<string[]> {
    return this.#use(async () => {
      const client = await connect(this.#pool, this.#target.display);
      let failed = false;
      try {
        return await vacuumPruned(this.#executor(client, 'read'), pruned);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        // A connection the vacuum failed on may still have its pacing set: it leaves the pool.
        client.release(failed);
      }
    });
  }

  /**
   * A session-level advisory lock on a connection of its own, outside the pool: held while that connection lives,
   * so a replica that dies (or loses its connection) lets the next one to ask take over. Named per schema, so
   * databases sharing a server do not contend.
   */
  tryLead(name: string): Promise<Leadership | null> {
    return this.#use(async () => {
      const client = new pg.Client(this.#target.pool);
      let broken = false;
      client.on('error', () => {
        broken = true;
      });
      const run = (text: string, values: unknown[] = []) => client.query(text, values);
      const key = `${name}:${this.#target.schema ?? 'public'}`;
      try {
        await client.connect();
        const { rows } = await run('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]);
        if (rows[0].locked === true) {
          return {
            held: async () => !broken && (await run('SELECT 1').then(() => true, () => false)),
            release: async () => {
              await client.end().catch(() => undefined);
            },
          };
        }
      } catch {
        // Unreachable now: not leading; the next attempt asks again.
      }
      await client.end().catch(() => undefined);
      return null;
    });
  }

  /** LISTENs on a connection of its own, outside the pool (see group-wakeups.ts). */
  override watchFinishedGroups(owner: string, wake: () => void, onError: (error: unknown) => void): () => Promise<void> {
    this.assertOpen();
    const { connectionString, connectionTimeoutMillis, types } = this.#target.pool;
    return listenForFinishedGroups({ connectionString, connectionTimeoutMillis, types }, owner, wake, onError);
  }

  protected read<T>(work: (db: Executor) => Promise<T>): Promise<T> {
    return this.#use(() => work(this.#executor(this.#pool, 'read')));
  }

  /** Statements on `on` for one operation of `kind`, each counted as a round trip. */
  #executor(on: pg.Pool | pg.PoolClient, kind: RoundTripKind): Executor {
    return executor(on, this.#target.display, this.roundTrips.start(kind));
  }

  /** Lets operations already under way finish, then closes the pool. */
  protected async shutdown(): Promise<void> {
    await Promise.all(this.#running);
    await this.#pool.end();
  }

  async #use<T>(operation: () => Promise<T>): Promise<T> {
    this.assertOpen();
    const result = operation();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#running.add(settled);
    void settled.then(() => this.#running.delete(settled));
    return result;
  }
}

