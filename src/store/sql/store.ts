/**
 * The Store, written once over a Dialect. A dialect's store (sqlite/store.ts, postgres/store.ts) adds what truly
 * differs: how it connects, runs a transaction, migrates and closes.
 */
import { SwitchboardError } from '../../errors.ts';
import { zeroPerState, type DeliveryState } from '../delivery-state.ts';
import type {
  AttemptVerdict,
  ClaimedDelivery,
  ClaimRequest,
  CompletedClaimingNext,
  AuditRecord,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryWithAttempts,
  ErasureCounts,
  ErasureSubject,
  EventSearch,
  EventSummary,
  IngestPlan,
  LatencyCount,
  MinuteStat,
  NextOfGroupClaim,
  Page,
  PruneBatchResult,
  PrunedRows,
  PruneStepName,
  RecordedIngest,
  SessionHistoryEntry,
  SessionStatus,
  SessionSummary,
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
import type { LivePicture } from '../../engine/reconcile/picture.ts';
import type { Leadership, PictureCounts, RoomDetail, RoomRecord } from '../live-picture.ts';
import { listRoomRecords, readLastWebhookAt, readLivePicture, readPictureCounts, readRecordedRoomSids, readRoomDetail } from './live-picture.ts';
import { deliveryConditions, usageConditions } from './conditions.ts';
import type { Dialect, Executor } from './dialect.ts';
import { pageStart, toPage, type PageRequest } from './page.ts';
import type { DialectSql } from './dialect-sql.ts';
import type { AttemptRow, DeliveryRow, RowDecoders, UsageRow } from './rows.ts';
import { DELIVERY_COLUMNS, USAGE_COLUMNS, type Statements } from './statements.ts';
import { listMinuteStats, listSessions, searchEvents } from './searches.ts';
import { sumLatencies } from './target-latency.ts';
import { SqlTx } from './transaction.ts';
import { countPrunable, pruneBatch, pruneStatements, type PruneAccess } from './retention.ts';
import { erasureStatements, eraseSubject } from './erasure.ts';

export const SESSION_HISTORY_LIMIT = 100;

/** What a transaction is for: an event's ingest, or anything else. */
export type TransactionPurpose = 'ingest' | 'other';

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
  /** The executor under each open transaction, for the lifecycle's statements (retention.ts, erasure.ts). */
  readonly #executors = new WeakMap<StoreTx, Executor>();
  readonly #lifecycle: { prune: ReturnType<typeof pruneStatements>; erasure: ReturnType<typeof erasureStatements> };

  protected constructor(on: DialectSql) {
    this.#on = on;
    ({ dialect: this.#dialect, sql: this.#sql, rows: this.#rows } = on);
    this.#lifecycle = { prune: pruneStatements(on.dialect), erasure: erasureStatements(on.dialect) };
  }

  readonly health = new StoreHealth();

  abstract migrate(): Promise<Migration[]>;
  /**
   * Runs `work` between BEGIN and COMMIT on one executor, settling once the commit is durable (or has failed);
   * `purpose` is for a store that counts its round trips.
   */
  protected abstract runTransaction<T>(work: (executor: Executor) => Promise<T>, purpose: TransactionPurpose): Promise<T>;
  /** Runs `work` with what reads committed data. */
  protected abstract read<T>(work: (db: Executor) => Promise<T>): Promise<T>;
  /** Lets the work already under way finish, then lets go of the database. */
  protected abstract shutdown(): Promise<void>;

  /** In a transaction of its own, unless the dialect has a cheaper way to make it durable. */
  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    return this.transaction((tx) => tx.completeAttempt(owner, attempt, verdict));
  }

  completeAttemptClaimingNext(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict, next: NextOfGroupClaim): Promise<CompletedClaimingNext> {
    return this.transaction(async (tx) => {
      const recorded = await tx.completeAttempt(owner, attempt, verdict);
      return { recorded, next: recorded ? await tx.claimNextOfGroup(next) : null };
    });
  }

  claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.transaction((tx) => tx.claimDueDeliveries(request));
  }

  /** Nothing to watch unless other processes share the queue (PostgreSQL). */
  watchFinishedGroups(_owner: string, _wake: () => void, _onError: (error: unknown) => void): () => Promise<void> {
    return async () => undefined;
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

  recordIngest(plan: IngestPlan): Promise<RecordedIngest> {
    return this.#watched((tx) => tx.recordIngest(plan), 'ingest');
  }

  probeWrite(): Promise<void> {
    return this.#watched((tx) => tx.probeWrite());
  }

  /** A transaction whose commit is told to `health`. */
  #watched<T>(work: (tx: SqlTx) => Promise<T>, purpose: TransactionPurpose = 'other'): Promise<T> {
    const mark: WriteMark = { wrote: false };
    return this.health.watch(this.runTransaction((executor) => this.#runWork(executor, work, mark), purpose), mark);
  }

  /**
   * `work`, a single statement, on `executor` with no BEGIN and COMMIT around it: on PostgreSQL's pool, where one
   * statement is atomic on its own and a transaction would cost two more round trips.
   */
  protected withoutTransaction<T>(executor: Executor, work: (tx: StoreTx) => Promise<T>, mark: WriteMark): Promise<T> {
    return this.#runWork(executor, work, mark);
  }

  /**
   * Runs `work` on the writes of a transaction over `executor`, ended as soon as `work` settles: a stray call after
   * that, which would run outside the transaction, is refused.
   */
  async #runWork<T>(executor: Executor, work: (tx: SqlTx) => Promise<T>, mark: WriteMark): Promise<T> {
    const tx = new SqlTx(executor, this.#on, mark);
    this.#executors.set(tx, executor);
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

  searchEvents(search: EventSearch, page: PageRequest): Promise<Page<EventSummary>> {
    return this.read((db) => searchEvents(db, this.#dialect, search, page));
  }

  listSessions(filter: { status?: string }, page: PageRequest): Promise<Page<SessionSummary>> {
    return this.read((db) => listSessions(db, this.#dialect, filter, page));
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

  countDeliveries(filter?: DeliveryFilter): Promise<Record<DeliveryState, number>> {
    return this.read(async (db) => {
      const counts = zeroPerState();
      const values: unknown[] = [];
      const conditions = filter === undefined ? [] : deliveryConditions(this.#dialect, filter, values);
      const statement = conditions.length === 0
        ? this.#sql.countDeliveries
        : this.#dialect.statement(`SELECT state, COUNT(*) AS count FROM deliveries WHERE ${conditions.join(' AND ')} GROUP BY state`);
      for (const row of await db.rows<{ state: DeliveryState; count: number }>(statement, values)) {
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

  listBehindTheirGroup(ids: readonly number[]): Promise<number[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.read(async (db) => {
      const rows = await db.rows<{ id: number }>(this.#sql.selectBehindTheirGroup, [ids]);
      return rows.map((row) => row.id);
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

  abstract tryLead(name: string): Promise<Leadership | null>;

  livePicture(): Promise<LivePicture> {
    return this.read((db) => readLivePicture(db, this.#dialect, this.#on.picture));
  }

  recordedRoomSids(sids: readonly string[]): Promise<ReadonlySet<string>> {
    return this.read((db) => readRecordedRoomSids(db, this.#on.picture, sids));
  }

  listRooms(filter: { status?: RoomRecord['status'] }, page: PageRequest): Promise<Page<RoomRecord>> {
    return this.read((db) => listRoomRecords(db, this.#dialect, filter, page));
  }

  getRoom(name: string): Promise<RoomDetail | null> {
    return this.read((db) => readRoomDetail(db, this.#dialect, this.#on.picture, name));
  }

  pictureCounts(): Promise<PictureCounts> {
    return this.read((db) => readPictureCounts(db, this.#on.picture));
  }

  lastWebhookAt(): Promise<Date | null> {
    return this.read((db) => readLastWebhookAt(db, this.#dialect, this.#on.picture));
  }

  listMinuteStats(range: { from: Date; to: Date }): Promise<MinuteStat[]> {
    return this.read((db) => listMinuteStats(db, this.#dialect, range));
  }

  sumLatencies(range: { from: Date; to: Date }): Promise<Array<Omit<LatencyCount, 'minute'>>> {
    return this.read((db) => sumLatencies(db, this.#dialect, range));
  }

  ping(): Promise<void> {
    return this.read(async (db) => {
      await db.rows(this.#sql.ping);
    });
  }

  pruneBatch(step: PruneStepName, cutoff: Date, limit: number, after = 0): Promise<PruneBatchResult> {
    return pruneBatch(this.#lifecycle.prune.get(step)!, this.#lifecycleAccess, cutoff, limit, after);
  }

  countPrunable(step: PruneStepName, cutoff: Date): Promise<PrunedRows> {
    return this.read((db) => countPrunable(this.#lifecycle.prune.get(step)!, db, cutoff));
  }

  reclaimSpace(pages: number): Promise<boolean> {
    return this.#lifecycleAccess.write((db) => this.#dialect.lifecycle.reclaim(db, pages));
  }

  /** Where the space of deleted rows is reusable at once (SQLite), there is nothing to vacuum. */
  async vacuumPruned(_pruned: PrunedRows): Promise<string[]> {
    return [];
  }

  /** Where a batch holds only its rows' locks (PostgreSQL), not the whole database. */
  readonly pruneBudgetMs: number = 25;

  /** Where each transaction has a connection of its own (PostgreSQL), no write waits behind the pruner's. */
  async yieldToWrites(): Promise<void> {}

  /** Where the database syncs its own files (PostgreSQL), there is nothing to wait for. */
  async letDiskCatchUp(): Promise<void> {}

  oldestEventAt(): Promise<Date | null> {
    return this.read(async (db) => {
      const [row] = await db.rows<{ receivedAt: unknown }>(this.#sql.oldestEvent);
      return row ? this.#dialect.readDate(row.receivedAt) : null;
    });
  }

  /** Where processes do not share the store beyond one writer (SQLite), a run never meets another: it just runs. */
  async runAlone(_name: string, work: () => Promise<void>): Promise<boolean> {
    await work();
    return true;
  }

  erase(subject: ErasureSubject, marker: string): Promise<ErasureCounts> {
    return eraseSubject({ dialect: this.#dialect, sql: this.#lifecycle.erasure }, this.#lifecycleAccess, subject, marker);
  }

  /** Reads on committed data, writes in a transaction of their own. */
  readonly #lifecycleAccess: PruneAccess = {
    read: (work) => this.read(work),
    write: (work) => this.transaction((tx) => work(this.#executors.get(tx)!)),
  };
}
