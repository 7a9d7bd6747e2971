/**
 * The Store, written once over a Dialect. A dialect's store (sqlite/store.ts, postgres/store.ts) adds what truly
 * differs: how it connects, runs a transaction, migrates and closes.
 */
import { SwitchboardError } from '../../errors.ts';
import { zeroPerState, type DeliveryState } from '../delivery-state.ts';
import type {
  AttemptVerdict,
  AuditRecord,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryWithAttempts,
  Page,
  SessionHistoryEntry,
  SessionStatus,
  Store,
  StoredEvent,
  StoreTx,
  TargetRecord,
  UsageEntry,
  UsageFilter,
  UsageTotal,
} from '../store.ts';
import { StoreHealth, type WriteMark } from '../health.ts';
import type { Migration } from './migration.ts';
import { deliveryConditions, usageConditions } from './conditions.ts';
import type { Dialect, Executor } from './dialect.ts';
import { pageStart, toPage, type PageRequest } from './page.ts';
import type { DialectSql } from './dialect-sql.ts';
import type { AttemptRow, DeliveryRow, RowDecoders, UsageRow } from './rows.ts';
import { DELIVERY_COLUMNS, USAGE_COLUMNS, type Statements } from './statements.ts';
import { SqlTx } from './transaction.ts';

export const SESSION_HISTORY_LIMIT = 100;

interface EventRow extends Omit<StoredEvent, 'receivedAt' | 'matched' | 'actions'> {
  receivedAt: unknown;
  matched: unknown;
  actions: unknown;
}

export abstract class SqlStore implements Store {
  abstract readonly kind: Store['kind'];
  readonly #on: DialectSql;
  readonly #dialect: Dialect;
  readonly #sql: Statements;
  readonly #rows: RowDecoders;
  #closing: Promise<void> | null = null;

  protected constructor(on: DialectSql) {
    this.#on = on;
    ({ dialect: this.#dialect, sql: this.#sql, rows: this.#rows } = on);
  }

  readonly health = new StoreHealth();

  abstract migrate(): Promise<Migration[]>;
  /** Runs `work` between BEGIN and COMMIT on one executor, settling once the commit is durable (or has failed). */
  protected abstract runTransaction<T>(work: (executor: Executor) => Promise<T>): Promise<T>;
  /** Runs `work` with what reads committed data. */
  protected abstract read<T>(work: (db: Executor) => Promise<T>): Promise<T>;
  /** Lets the work already under way finish, then lets go of the database. */
  protected abstract shutdown(): Promise<void>;

  /** In a transaction of its own, unless the dialect has a cheaper way to make it durable. */
  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    return this.transaction((tx) => tx.completeAttempt(owner, attempt, verdict));
  }

  /** Later calls get E_STORE_UNAVAILABLE. */
  close(): Promise<void> {
    this.#closing ??= this.shutdown();
    return this.#closing;
  }

  protected assertOpen(): void {
    if (this.#closing) throw new SwitchboardError('E_STORE_UNAVAILABLE', 'The store is closed.');
  }

  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.#watched(work);
  }

  probeWrite(): Promise<void> {
    return this.#watched((tx) => tx.probeWrite());
  }

  /** A transaction whose commit is told to `health`. */
  #watched<T>(work: (tx: SqlTx) => Promise<T>): Promise<T> {
    const mark: WriteMark = { wrote: false };
    return this.health.watch(this.runTransaction((executor) => this.#runWork(executor, work, mark)), mark);
  }

  /**
   * Runs `work` on the writes of a transaction over `executor`, ended as soon as `work` settles: a stray call after
   * that, which would run outside the transaction, is refused.
   */
  async #runWork<T>(executor: Executor, work: (tx: SqlTx) => Promise<T>, mark: WriteMark): Promise<T> {
    const tx = new SqlTx(executor, this.#on, mark);
    try {
      return await work(tx);
    } finally {
      tx.end();
    }
  }

  getEvent(id: string): Promise<StoredEvent | null> {
    return this.read(async (db) => {
      const [row] = await db.rows<EventRow>(this.#dialect.outcomes.selectEvent, [id]);
      if (!row) return null;
      const { readDate, readJson } = this.#dialect;
      return { ...row, receivedAt: readDate(row.receivedAt), matched: readJson(row.matched), actions: readJson(row.actions) };
    });
  }

  getSession(key: string): Promise<SessionStatus | null> {
    return this.read(async (db) => {
      const { selectSession, selectHistory } = this.#dialect.sessions;
      const [session] = await db.rows<Omit<SessionStatus, 'history' | 'updatedAt'> & { updatedAt: unknown }>(selectSession, [key]);
      if (!session) return null;
      const history = await db.rows<Omit<SessionHistoryEntry, 'at'> & { at: unknown }>(selectHistory, [key, SESSION_HISTORY_LIMIT]);
      const { readDate } = this.#dialect;
      return {
        ...session,
        updatedAt: readDate(session.updatedAt),
        history: history.map((entry) => ({ ...entry, at: readDate(entry.at) })),
      };
    });
  }

  listDeliveries(filter: DeliveryFilter, page: PageRequest): Promise<Page<Delivery>> {
    return this.read(async (db) => {
      const start = pageStart(page);
      const values: unknown[] = [];
      const where = [...deliveryConditions(this.#dialect, filter, values), `id < $${values.length + 1}`].join(' AND ');
      const rows = await db.rows<DeliveryRow>(
        this.#dialect.statement(
          `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE ${where} ORDER BY id DESC LIMIT $${values.length + 2}`,
        ),
        [...values, start.beforeId, start.limit + 1],
      );
      return toPage(rows.map(this.#rows.toDelivery), start);
    });
  }

  getDelivery(id: number): Promise<DeliveryWithAttempts | null> {
    return this.read(async (db) => {
      const [row] = await db.rows<DeliveryRow>(this.#sql.selectDelivery, [id]);
      if (!row) return null;
      const attempts = await db.rows<AttemptRow>(this.#sql.selectAttempts, [id]);
      return { ...this.#rows.toDelivery(row), attemptLog: attempts.map(this.#rows.toAttempt) };
    });
  }

  countDeliveries(): Promise<Record<DeliveryState, number>> {
    return this.read(async (db) => {
      const counts = zeroPerState();
      for (const row of await db.rows<{ state: DeliveryState; count: number }>(this.#sql.countDeliveries)) {
        counts[row.state] = row.count;
      }
      return counts;
    });
  }

  oldestDueAt(now: Date): Promise<Date | null> {
    return this.read(async (db) => {
      const [row] = await db.rows<{ dueAt: unknown }>(this.#sql.oldestDueAt, [now]);
      return row?.dueAt == null ? null : this.#dialect.readDate(row.dueAt);
    });
  }

  listTargets(): Promise<TargetRecord[]> {
    return this.read(async (db) => {
      const rows = await db.rows<{ target: string; disabled: unknown; reason: string | null; changedAt: unknown }>(this.#sql.selectTargets);
      return rows.map((row) => ({
        target: row.target,
        disabled: row.disabled !== null && this.#dialect.readBool(row.disabled),
        reason: row.reason,
        changedAt: this.#rows.dateOrNull(row.changedAt),
      }));
    });
  }

  listAudit(page: PageRequest): Promise<Page<AuditRecord>> {
    return this.read(async (db) => {
      const start = pageStart(page);
      const rows = await db.rows<Omit<AuditRecord, 'at' | 'details'> & { at: unknown; details: unknown }>(
        this.#sql.selectAudit,
        [start.beforeId, start.limit + 1],
      );
      const { readDate, readJson } = this.#dialect;
      return toPage(
        rows.map((row) => ({ ...row, at: readDate(row.at), details: readJson<Record<string, unknown>>(row.details) })),
        start,
      );
    });
  }

  listUsage(filter: UsageFilter, page: PageRequest): Promise<Page<UsageEntry>> {
    return this.read(async (db) => {
      const start = pageStart(page);
      const values: unknown[] = [];
      const where = [...usageConditions(filter, values), `usage.id < $${values.length + 1}`].join(' AND ');
      const rows = await db.rows<UsageRow>(
        this.#dialect.statement(
          `SELECT ${USAGE_COLUMNS}, delivery.id AS "deliveryId", delivery.state AS "deliveryState"
          FROM usage_ledger AS usage
          LEFT JOIN deliveries AS delivery ON delivery.event_id = usage.event_id AND delivery.rule_id = usage.rule_id
            AND delivery.action_index = usage.action_index
          WHERE ${where} ORDER BY usage.id DESC LIMIT $${values.length + 2}`,
        ),
        [...values, start.beforeId, start.limit + 1],
      );
      return toPage(rows.map(this.#rows.toUsage), start);
    });
  }

  sumUsage(filter: UsageFilter): Promise<UsageTotal[]> {
    return this.read(async (db) => {
      const values: unknown[] = [];
      const conditions = usageConditions(filter, values);
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
      // PostgreSQL's SUM of bigint is numeric; back to bigint (read as a number) for a total typed like the rows.
      return db.rows<UsageTotal>(
        this.#dialect.statement(
          `SELECT customer, meter, unit, CAST(SUM(quantity) AS bigint) AS quantity, COUNT(*) AS records
          FROM usage_ledger AS usage ${where}
          GROUP BY customer, meter, unit ORDER BY customer, meter, unit`,
        ),
        values,
      );
    });
  }

  ping(): Promise<void> {
    return this.read(async (db) => {
      await db.rows(this.#sql.ping);
    });
  }
}
