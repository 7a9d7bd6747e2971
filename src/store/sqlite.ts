/**
 * The Store on SQLite (`node:sqlite`). Transactions run one at a time on a writer connection, committed in groups
 * (sqlite-group-commit.ts); reads use a second connection, so while a transaction awaits plugin code they see only
 * what is committed.
 */
import type { SQLInputValue } from 'node:sqlite';
import { SwitchboardError } from '../errors.ts';
import type { SessionTransition, SessionTransitionRequest } from '../plugins/contract.ts';
import { truncateResponse } from './attempt-response.ts';
import {
  byDueTimeThenId,
  CANCELLABLE_STATES,
  CLAIMABLE_STATES,
  replaySources,
  type DeliveryState,
  zeroPerState,
  withClaimedEvent,
} from './delivery-state.ts';
import { pendingMigrations, type Migration } from './migrations/migration.ts';
import { sqliteMigrations } from './migrations/sqlite.ts';
import { pageStart, toPage, type PageRequest } from './page.ts';
import { decideTransition, type CurrentSession } from './session-transition.ts';
import { Connection } from './sqlite-connection.ts';
import { Checkpointer } from './sqlite-checkpointer.ts';
import { GroupCommit, SerialQueue } from './sqlite-group-commit.ts';
import { WalFlush } from './sqlite-wal-flush.ts';
import type {
  AttemptVerdict,
  AuditEntry,
  AuditRecord,
  ClaimedDelivery,
  ClaimRequest,
  Delivery,
  DeliveryAttempt,
  DeliveryFilter,
  DeliveryLease,
  DeliveryWithAttempts,
  Enqueued,
  EventOutcome,
  EventRecord,
  NewDelivery,
  NewUsage,
  OrderingEvent,
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
} from './store.ts';
import { FIRST_OF_ITS_GROUP, GIVEN_BACK_STATE, leaseGranted, SESSION_HISTORY_LIMIT, state, states, TX_SAVEPOINT } from './sql.ts';

// node:sqlite is synchronous: waiting on another process's lock blocks the event loop for up to this long.
const BUSY_TIMEOUT_MS = 5_000;

// synchronous = NORMAL: COMMIT does not wait for the disk, WalFlush makes each batch durable before it is
// acknowledged, so an acknowledged event survives a crash or power loss, as with FULL, without blocking the loop.
// wal_autocheckpoint = 0: the Checkpointer's thread checkpoints instead of the COMMIT that crosses the threshold.
// temp_store = MEMORY: every transaction and inline action runs in a savepoint, whose journal SQLite otherwise
// spills to a temporary file, created, written and deleted for nearly every batch (docs/benchmarks.md).
// cache_size: 64 MiB for the writer (SQLite's default is 2 MiB), so the index pages that new events and sessions
// land in are seldom read back from the files.
const WRITER_PRAGMAS = `
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  PRAGMA wal_autocheckpoint = 0;
  PRAGMA foreign_keys = ON;
  PRAGMA cache_size = -65536;
  PRAGMA temp_store = MEMORY;
`;
const READER_PRAGMAS = `
  PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};
  PRAGMA query_only = ON;
`;

const DELIVERY_COLUMNS = `
  id, event_id AS eventId, event_seq AS eventSeq, event_name AS eventName, rule_id AS ruleId,
  action_index AS actionIndex, plugin, params, target, ordering_key AS orderingKey, state, attempts,
  max_attempts AS maxAttempts, retry_schedule AS retrySchedule, timeout_ms AS timeoutMs, due_at AS dueAt,
  lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt, last_error AS lastError,
  trace_context AS traceContext, created_at AS createdAt, updated_at AS updatedAt`;

/** What a claim returns of each delivery's event, so that its attempt needs no query of its own. */
const CLAIMED_EVENT_COLUMNS = `
  (SELECT body FROM events WHERE events.id = deliveries.event_id) AS eventBody,
  (SELECT created_at FROM events WHERE events.id = deliveries.event_id) AS eventCreatedAt`;

const USAGE_COLUMNS = `
  usage.id, usage.identifier, usage.event_id AS eventId, usage.event_name AS eventName, usage.rule_id AS ruleId,
  usage.action_index AS actionIndex, usage.customer, usage.meter, usage.quantity, usage.unit,
  usage.occurred_at AS occurredAt, usage.recorded_at AS recordedAt`;

/** What every claim candidate must also satisfy: an enabled target, not skipped here, first of its ordering group. */
const CLAIM_FILTERS = `candidate.target NOT IN (SELECT target FROM targets WHERE disabled = 1)
          AND candidate.target NOT IN (SELECT value FROM json_each(?4))
          AND ${FIRST_OF_ITS_GROUP}`;

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
    ON CONFLICT (id) DO NOTHING`,
  // The outcome has a row of its own (migration 7).
  saveOutcome: `
    INSERT INTO event_outcomes (seq, matched, actions) SELECT seq, ?, ? FROM events WHERE id = ?
    ON CONFLICT (seq) DO UPDATE SET matched = excluded.matched, actions = excluded.actions`,
  selectEvent: `
    SELECT event.seq, id, name, created_at AS createdAt, api_key AS apiKey, body, received_at AS receivedAt,
      COALESCE(outcome.matched, '[]') AS matched, COALESCE(outcome.actions, '[]') AS actions
    FROM events AS event LEFT JOIN event_outcomes AS outcome ON outcome.seq = event.seq
    WHERE id = ?`,
  // A session's rows (see migration 6): n = 0 its current status, 1, 2, … its history, oldest first.
  selectSessionOrder: `
    SELECT status, event_created_at AS eventCreatedAt, event_seq AS eventSeq, history
    FROM session_rows WHERE key = ? AND n = 0`,
  upsertSession: `
    INSERT INTO session_rows (key, n, status, event_id, event_created_at, event_seq, at, history)
    VALUES (?, 0, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (key, n) DO UPDATE SET
      status = excluded.status,
      event_id = excluded.event_id,
      event_created_at = excluded.event_created_at,
      event_seq = excluded.event_seq,
      at = excluded.at,
      history = excluded.history`,
  insertHistory: `
    INSERT INTO session_rows (key, n, status, old_status, event_id, event_name, event_created_at, at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  selectSession: 'SELECT key, status, at AS updatedAt, event_id AS eventId FROM session_rows WHERE key = ? AND n = 0',
  selectHistory: `
    SELECT status, old_status AS oldStatus, event_id AS eventId, event_name AS eventName,
      event_created_at AS eventCreatedAt, at
    FROM session_rows WHERE key = ? AND n > 0 ORDER BY n DESC LIMIT ?`,

  // INSERT … SELECT with WHERE true: without a WHERE, SQLite would read ON CONFLICT as part of the SELECT.
  insertDelivery: `
    INSERT INTO deliveries (
      event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key, state,
      max_attempts, retry_schedule, timeout_ms, due_at, trace_context, created_at, updated_at, lease_owner,
      lease_expires_at
    )
    SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, CASE WHEN lease.granted THEN ${state('running')} ELSE ${state('pending')} END,
      ?10, ?11, ?12, ?13, ?14, ?15, ?15, CASE WHEN lease.granted THEN ?16 END, CASE WHEN lease.granted THEN ?17 END
    FROM (SELECT ${leaseGranted({ owner: '?16', target: '?8', ruleId: '?4', actionIndex: '?5', orderingKey: '?9', disabledTarget: 'disabled = 1' })} AS granted) AS lease
    WHERE true
    ON CONFLICT (event_id, rule_id, action_index) DO NOTHING
    RETURNING id, state`,
  selectDeliveryId: 'SELECT id FROM deliveries WHERE event_id = ? AND rule_id = ? AND action_index = ?',
  // One statement: the candidates are read and leased together, so two workers never claim the same delivery.
  // A delivery waits while an earlier one of its ordering group is unfinished, which also keeps a later one out of
  // the batch that claims the earlier one; an expired lease is reclaimed like any due delivery.
  // Due deliveries and expired leases are found apart, each by an ordered scan of its own partial index that stops
  // at the limit, so a claim costs the same with a backlog of ten or of a hundred thousand. INDEXED BY, because
  // without statistics the planner prefers an index that makes it sort every due row. A delivery waits while an
  // earlier one of its ordering group is unfinished, which also keeps a later one out of the batch that claims the
  // earlier one; one statement reads and leases, so two workers never claim the same delivery.
  claimDeliveries: `
    UPDATE deliveries
    SET state = ${state('running')}, lease_owner = ?1, lease_expires_at = ?2, updated_at = ?3
    WHERE id IN (
      SELECT id FROM (
        SELECT id, due_at FROM (
          SELECT candidate.id, candidate.due_at FROM deliveries AS candidate INDEXED BY deliveries_claimable
          WHERE candidate.state IN (${states(CLAIMABLE_STATES)}) AND candidate.due_at <= ?3 AND ${CLAIM_FILTERS}
          ORDER BY candidate.due_at, candidate.id
          LIMIT ?5
        )
        UNION ALL
        SELECT id, due_at FROM (
          SELECT candidate.id, candidate.due_at FROM deliveries AS candidate INDEXED BY deliveries_leased
          WHERE candidate.state = ${state('running')} AND candidate.lease_expires_at <= ?3 AND ${CLAIM_FILTERS}
          ORDER BY candidate.lease_expires_at
          LIMIT ?5
        )
        ORDER BY due_at, id
        LIMIT ?5
      )
    )
    RETURNING ${DELIVERY_COLUMNS}, ${CLAIMED_EVENT_COLUMNS}`,
  finishAttempt: `
    UPDATE deliveries
    SET state = ?1, attempts = ?2, due_at = COALESCE(?3, due_at), last_error = ?4,
      lease_owner = NULL, lease_expires_at = NULL, updated_at = ?5
    WHERE id = ?6 AND state = ${state('running')} AND lease_owner = ?7`,
  insertAttempt: `
    INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, succeeded, status_code, error, response)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  deferDelivery: `
    UPDATE deliveries
    SET state = ${GIVEN_BACK_STATE}, due_at = ?1, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?2
    WHERE id = ?3 AND state = ${state('running')} AND lease_owner = ?4`,
  extendLeases: `
    UPDATE deliveries SET lease_expires_at = ?1, updated_at = ?2
    WHERE state = ${state('running')} AND lease_owner = ?3 AND id IN (SELECT value FROM json_each(?4))`,
  // A claimed delivery was due when claimed, so keeping its due time makes it claimable at once, in its old place.
  releaseLeases: `
    UPDATE deliveries
    SET state = ${GIVEN_BACK_STATE}, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
    WHERE state = ${state('running')} AND lease_owner = ?2`,
  cancelDelivery: `
    UPDATE deliveries SET state = ${state('cancelled')}, updated_at = ?
    WHERE id = ? AND state IN (${states(CANCELLABLE_STATES)})`,
  upsertTarget: `
    INSERT INTO targets (target, disabled, reason, changed_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (target) DO UPDATE SET
      disabled = excluded.disabled,
      reason = excluded.reason,
      changed_at = excluded.changed_at`,
  insertAudit: 'INSERT INTO audit_log (at, action, subject, details) VALUES (?, ?, ?, ?)',

  selectDelivery: `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`,
  selectAttempts: `
    SELECT delivery_id AS deliveryId, number, started_at AS startedAt, duration_ms AS durationMs, succeeded,
      status_code AS statusCode, error, response
    FROM delivery_attempts WHERE delivery_id = ? ORDER BY id`,
  countDeliveries: 'SELECT state, COUNT(*) AS count FROM deliveries GROUP BY state',
  oldestDueAt: `
    SELECT MIN(due_at) AS dueAt FROM deliveries WHERE state IN (${states(CLAIMABLE_STATES)}) AND due_at <= ?`,
  selectTargets: `
    SELECT known.target, targets.disabled, targets.reason, targets.changed_at AS changedAt
    FROM (SELECT DISTINCT target FROM deliveries UNION SELECT target FROM targets) AS known
    LEFT JOIN targets ON targets.target = known.target
    ORDER BY known.target`,
  selectAudit: 'SELECT id, at, action, subject, details FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?',
  ping: 'SELECT 1 AS ok',

  insertUsage: `
    INSERT INTO usage_ledger (
      identifier, event_id, event_name, rule_id, action_index, customer, meter, quantity, unit, occurred_at, recorded_at
    ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (identifier) DO NOTHING
    RETURNING id`,
  selectUsageByIdentifier: `SELECT ${USAGE_COLUMNS} FROM usage_ledger AS usage WHERE identifier = ?`,
};

/**
 * The conditions a usage filter puts on the usage ledger (as `usage`). Times are stored as ISO strings of one length,
 * so comparing them as text orders them in time.
 */
function usageConditions(filter: UsageFilter): { conditions: string[]; params: SQLInputValue[] } {
  const conditions: string[] = [];
  const params: SQLInputValue[] = [];
  if (filter.customer !== undefined) {
    conditions.push('usage.customer = ?');
    params.push(filter.customer);
  }
  if (filter.meter !== undefined) {
    conditions.push('usage.meter = ?');
    params.push(filter.meter);
  }
  if (filter.from !== undefined) {
    conditions.push('usage.occurred_at >= ?');
    params.push(filter.from.toISOString());
  }
  if (filter.to !== undefined) {
    conditions.push('usage.occurred_at < ?');
    params.push(filter.to.toISOString());
  }
  return { conditions, params };
}

/** The conditions a delivery filter puts on the deliveries table; the statements built on it are cached by text. */
function deliveryConditions(filter: DeliveryFilter & { ids?: readonly number[] }): {
  conditions: string[];
  params: SQLInputValue[];
} {
  const conditions: string[] = [];
  const params: SQLInputValue[] = [];
  if (filter.state !== undefined) {
    conditions.push('state = ?');
    params.push(filter.state);
  }
  if (filter.rule !== undefined) {
    conditions.push('rule_id = ?');
    params.push(filter.rule);
  }
  if (filter.target !== undefined) {
    conditions.push('target = ?');
    params.push(filter.target);
  }
  if (filter.ids !== undefined) {
    conditions.push('id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.ids));
  }
  return { conditions, params };
}

interface EventRow extends Omit<StoredEvent, 'receivedAt' | 'matched' | 'actions'> {
  receivedAt: string;
  matched: string;
  actions: string;
}

interface CurrentSessionRow extends CurrentSession {
  /** How many history rows the session has. */
  history: number;
}

interface SessionRow extends Omit<SessionStatus, 'updatedAt' | 'history'> {
  updatedAt: string;
}

interface HistoryRow extends Omit<SessionHistoryEntry, 'at'> {
  at: string;
}

type DateColumns = 'dueAt' | 'createdAt' | 'updatedAt' | 'leaseExpiresAt';
type JsonColumns = 'params' | 'retrySchedule' | 'traceContext' | 'lastError';

interface DeliveryRow extends Omit<Delivery, DateColumns | JsonColumns | 'state'> {
  state: string;
  params: string;
  retrySchedule: string;
  traceContext: string | null;
  lastError: string | null;
  dueAt: string;
  createdAt: string;
  updatedAt: string;
  leaseExpiresAt: string | null;
}

interface ClaimedDeliveryRow extends DeliveryRow {
  eventBody: string | null;
  eventCreatedAt: number | null;
}

interface AttemptRow {
  deliveryId: number;
  number: number;
  startedAt: string;
  durationMs: number;
  succeeded: number;
  statusCode: number | null;
  error: string | null;
  response: string | null;
}

interface TargetRow {
  target: string;
  disabled: number | null;
  reason: string | null;
  changedAt: string | null;
}

interface AuditRow {
  id: number;
  at: string;
  action: string;
  subject: string;
  details: string;
}

interface UsageRow extends Omit<UsageEntry, 'occurredAt' | 'recordedAt' | 'delivery'> {
  occurredAt: string;
  recordedAt: string;
  deliveryId?: number | null;
  deliveryState?: string | null;
}

function toUsage(row: UsageRow): UsageEntry {
  const { deliveryId, deliveryState, ...columns } = row;
  return {
    ...columns,
    occurredAt: new Date(row.occurredAt),
    recordedAt: new Date(row.recordedAt),
    delivery: deliveryId == null ? null : { id: deliveryId, state: deliveryState as DeliveryState },
  };
}

function toDelivery(row: DeliveryRow): Delivery {
  const { traceContext, ...columns } = row;
  return {
    ...columns,
    state: row.state as DeliveryState,
    params: JSON.parse(row.params),
    retrySchedule: JSON.parse(row.retrySchedule),
    lastError: row.lastError === null ? null : JSON.parse(row.lastError),
    dueAt: new Date(row.dueAt),
    createdAt: new Date(row.createdAt),
    updatedAt: new Date(row.updatedAt),
    leaseExpiresAt: row.leaseExpiresAt === null ? null : new Date(row.leaseExpiresAt),
    ...(traceContext === null ? {} : { traceContext: JSON.parse(traceContext) }),
  };
}

function toClaimedDelivery(row: ClaimedDeliveryRow): ClaimedDelivery {
  const { eventBody, eventCreatedAt, ...delivery } = row;
  return withClaimedEvent(toDelivery(delivery), eventBody, eventCreatedAt);
}

function toAttempt(row: AttemptRow): DeliveryAttempt {
  return {
    deliveryId: row.deliveryId,
    number: row.number,
    startedAt: new Date(row.startedAt),
    durationMs: row.durationMs,
    succeeded: row.succeeded === 1,
    ...(row.statusCode === null ? {} : { statusCode: row.statusCode }),
    ...(row.error === null ? {} : { error: JSON.parse(row.error) }),
    ...(row.response === null ? {} : { response: row.response }),
  };
}

export interface SqliteStoreOptions {
  /** Told about trouble in background work (a failed checkpoint) that no caller is waiting on. */
  onWarning?: (message: string) => void;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #writer: Connection;
  readonly #reader: Connection;
  readonly #writes = new SerialQueue();
  readonly #commits: GroupCommit;
  /** Both null in memory, where there is no disk to wait for and no log. */
  readonly #walFlush: WalFlush | null;
  readonly #checkpointer: Checkpointer | null;
  #closing: Promise<void> | null = null;

  /** Opens, creating if needed, the database at `location`: a file path or `:memory:`. */
  constructor(location: string, options: SqliteStoreOptions = {}) {
    const inMemory = location === ':memory:';
    this.#writer = new Connection(location, WRITER_PRAGMAS);
    // A second connection to `:memory:` would open another, empty database; in memory, reads share the writer.
    this.#reader = inMemory ? this.#writer : this.#openReader(location);
    this.#walFlush = inMemory ? null : new WalFlush(location);
    this.#commits = new GroupCommit(this.#writer, this.#writes, () => {
      this.#checkpointer?.committed();
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
    this.#assertOpen();
    const applied = await this.#writes.run(async () => {
      this.#writer.exec(SQL.createSchemaMigrations);
      const done = this.#writer.all<{ version: number }>(SQL.appliedVersions).map((row) => row.version);
      return pendingMigrations(sqliteMigrations, done).filter((migration) => this.#applyMigration(migration));
    });
    await this.#durable();
    return applied;
  }

  /** Transactions queued together commit together: each resolves once its batch is durable (see GroupCommit). */
  async transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    this.#assertOpen();
    return this.#commits.run(async () => {
      const tx = new SqliteTx(this.#writer);
      try {
        return await work(tx);
      } finally {
        tx.end();
      }
    });
  }

  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    return this.transaction((tx) => tx.completeAttempt(owner, attempt, verdict));
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

  async listDeliveries(filter: DeliveryFilter, page: PageRequest): Promise<Page<Delivery>> {
    this.#assertOpen();
    const start = pageStart(page);
    const { conditions, params } = deliveryConditions(filter);
    const where = [...conditions, 'id < ?'].join(' AND ');
    const rows = this.#reader.all<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE ${where} ORDER BY id DESC LIMIT ?`,
      ...params,
      start.beforeId,
      start.limit + 1,
    );
    return toPage(rows.map(toDelivery), start);
  }

  async getDelivery(id: number): Promise<DeliveryWithAttempts | null> {
    this.#assertOpen();
    const row = this.#reader.get<DeliveryRow>(SQL.selectDelivery, id);
    if (!row) return null;
    const attempts = this.#reader.all<AttemptRow>(SQL.selectAttempts, id);
    return { ...toDelivery(row), attemptLog: attempts.map(toAttempt) };
  }

  async countDeliveries(): Promise<Record<DeliveryState, number>> {
    this.#assertOpen();
    const counts = zeroPerState();
    for (const row of this.#reader.all<{ state: DeliveryState; count: number }>(SQL.countDeliveries)) {
      counts[row.state] = row.count;
    }
    return counts;
  }

  async oldestDueAt(now: Date): Promise<Date | null> {
    this.#assertOpen();
    const row = this.#reader.get<{ dueAt: string | null }>(SQL.oldestDueAt, now.toISOString());
    return row?.dueAt == null ? null : new Date(row.dueAt);
  }

  async listTargets(): Promise<TargetRecord[]> {
    this.#assertOpen();
    return this.#reader.all<TargetRow>(SQL.selectTargets).map((row) => ({
      target: row.target,
      disabled: row.disabled === 1,
      reason: row.reason,
      changedAt: row.changedAt === null ? null : new Date(row.changedAt),
    }));
  }

  async listAudit(page: PageRequest): Promise<Page<AuditRecord>> {
    this.#assertOpen();
    const start = pageStart(page);
    const rows = this.#reader.all<AuditRow>(SQL.selectAudit, start.beforeId, start.limit + 1);
    return toPage(
      rows.map((row) => ({ ...row, at: new Date(row.at), details: JSON.parse(row.details) })),
      start,
    );
  }

  async listUsage(filter: UsageFilter, page: PageRequest): Promise<Page<UsageEntry>> {
    this.#assertOpen();
    const start = pageStart(page);
    const { conditions, params } = usageConditions(filter);
    const where = [...conditions, 'usage.id < ?'].join(' AND ');
    const rows = this.#reader.all<UsageRow>(
      `SELECT ${USAGE_COLUMNS}, delivery.id AS deliveryId, delivery.state AS deliveryState
      FROM usage_ledger AS usage
      LEFT JOIN deliveries AS delivery ON delivery.event_id = usage.event_id AND delivery.rule_id = usage.rule_id
        AND delivery.action_index = usage.action_index
      WHERE ${where} ORDER BY usage.id DESC LIMIT ?`,
      ...params,
      start.beforeId,
      start.limit + 1,
    );
    return toPage(rows.map(toUsage), start);
  }

  async sumUsage(filter: UsageFilter): Promise<UsageTotal[]> {
    this.#assertOpen();
    const { conditions, params } = usageConditions(filter);
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    return this.#reader.all<UsageTotal>(
      `SELECT customer, meter, unit, SUM(quantity) AS quantity, COUNT(*) AS records
      FROM usage_ledger AS usage ${where}
      GROUP BY customer, meter, unit ORDER BY customer, meter, unit`,
      ...params,
    );
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    this.#reader.get(SQL.ping);
  }

  /** Lets transactions already started or queued finish, then closes; later calls get E_STORE_UNAVAILABLE. */
  close(): Promise<void> {
    this.#closing ??= this.#commits.drained().then(() =>
      this.#writes.run(async () => {
        await this.#checkpointer?.stop();
        await this.#walFlush?.close();
        this.#reader.close();
        this.#writer.close();
      }),
    );
    return this.#closing;
  }

  #durable(): Promise<void> {
    return this.#walFlush?.flush() ?? Promise.resolve();
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

  /**
   * Applies one migration in its own transaction; the caller holds the writer. True when this call applied it;
   * false when another process had, since we looked.
   */
  #applyMigration(migration: Migration): boolean {
    this.#writer.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have applied it since we looked; holding the write lock now settles that.
      const pending = !this.#writer.get(SQL.isApplied, migration.version);
      if (pending) {
        this.#writer.exec(migration.sql);
        this.#writer.run(SQL.recordMigration, migration.version, migration.name, new Date().toISOString());
      }
      this.#writer.exec('COMMIT');
      return pending;
    } catch (error) {
      this.#writer.rollback();
      throw error;
    }
  }
}

/** The writes of one transaction. Refuses use once the transaction has ended, so a stray call cannot autocommit. */
class SqliteTx implements StoreTx {
  readonly #connection: Connection;
  #ended = false;

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  end(): void {
    this.#ended = true;
  }

  async recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }> {
    const { changes, lastInsertRowid } = this.#db.run(
      SQL.insertEvent,
      record.id,
      record.name,
      record.createdAt,
      record.apiKey,
      record.body,
      record.receivedAt.toISOString(),
    );
    return changes === 0 ? { duplicate: true } : { duplicate: false, seq: Number(lastInsertRowid) };
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
    const current = this.#db.get<CurrentSessionRow>(SQL.selectSessionOrder, request.key) ?? null;
    const decision = decideTransition(current, request, event);
    if (!decision.applied) return decision;

    const at = new Date().toISOString();
    const changed = decision.new_status !== decision.old_status;
    const history = (current?.history ?? 0) + (changed ? 1 : 0);
    this.#db.run(SQL.upsertSession, request.key, decision.new_status, event.id, event.createdAt, event.seq, at, history);
    if (changed) {
      this.#db.run(
        SQL.insertHistory,
        request.key,
        history,
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
    this.#db.run(`SAVEPOINT ${TX_SAVEPOINT}`);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.#db.run(`ROLLBACK TO ${TX_SAVEPOINT}`);
      this.#db.run(`RELEASE ${TX_SAVEPOINT}`);
      throw error;
    }
    this.#db.run(`RELEASE ${TX_SAVEPOINT}`);
    return result;
  }

  /** See StoreTx.enqueueDelivery. */
  async enqueueDelivery(delivery: NewDelivery, lease?: DeliveryLease): Promise<Enqueued> {
    const inserted = this.#db.get<{ id: number; state: string }>(
      SQL.insertDelivery,
      delivery.eventId,
      delivery.eventSeq,
      delivery.eventName,
      delivery.ruleId,
      delivery.actionIndex,
      delivery.plugin,
      JSON.stringify(delivery.params),
      delivery.target,
      delivery.orderingKey,
      delivery.maxAttempts,
      JSON.stringify(delivery.retrySchedule),
      delivery.timeoutMs,
      delivery.dueAt.toISOString(),
      delivery.traceContext === undefined ? null : JSON.stringify(delivery.traceContext),
      new Date().toISOString(),
      lease?.owner ?? null,
      lease?.expiresAt.toISOString() ?? null,
    );
    if (inserted) return { id: inserted.id, leased: inserted.state === 'running' };
    const existing = this.#db.get<{ id: number }>(
      SQL.selectDeliveryId,
      delivery.eventId,
      delivery.ruleId,
      delivery.actionIndex,
    );
    return { id: existing!.id, leased: false };
  }

  async claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const rows = this.#db.all<ClaimedDeliveryRow>(
      SQL.claimDeliveries,
      request.owner,
      new Date(request.now.getTime() + request.leaseMs).toISOString(),
      request.now.toISOString(),
      JSON.stringify(request.skipTargets),
      request.limit,
    );
    // RETURNING gives rows in no promised order.
    return rows.map(toClaimedDelivery).sort(byDueTimeThenId);
  }

  async completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    const { changes } = this.#db.run(
      SQL.finishAttempt,
      verdict.state,
      attempt.number,
      verdict.state === 'failed-waiting-retry' ? verdict.dueAt.toISOString() : null,
      attempt.error === undefined ? null : JSON.stringify(attempt.error),
      new Date().toISOString(),
      attempt.deliveryId,
      owner,
    );
    if (changes === 0) return false;
    this.#db.run(
      SQL.insertAttempt,
      attempt.deliveryId,
      attempt.number,
      attempt.startedAt.toISOString(),
      attempt.durationMs,
      attempt.succeeded ? 1 : 0,
      attempt.statusCode ?? null,
      attempt.error === undefined ? null : JSON.stringify(attempt.error),
      attempt.response === undefined ? null : truncateResponse(attempt.response),
    );
    return true;
  }

  /** Back to pending, or to waiting for a retry when attempts were already spent; the attempt count stays. */
  async deferDelivery(owner: string, deliveryId: number, dueAt: Date): Promise<boolean> {
    const { changes } = this.#db.run(
      SQL.deferDelivery,
      dueAt.toISOString(),
      new Date().toISOString(),
      deliveryId,
      owner,
    );
    return changes > 0;
  }

  /** Leases `owner` no longer holds (taken over after they expired) stay with their new owner. */
  async extendLeases(owner: string, deliveryIds: number[], until: Date): Promise<void> {
    this.#db.run(SQL.extendLeases, until.toISOString(), new Date().toISOString(), owner, JSON.stringify(deliveryIds));
  }

  async releaseLeases(owner: string): Promise<number> {
    const { changes } = this.#db.run(SQL.releaseLeases, new Date().toISOString(), owner);
    return Number(changes);
  }

  async replayDeliveries(
    filter: DeliveryFilter & { ids?: number[] },
    options: { force: boolean; now: Date },
  ): Promise<number[]> {
    const from = replaySources(options.force);
    const { conditions, params } = deliveryConditions(filter);
    const where = [`state IN (${states(from)})`, ...conditions].join(' AND ');
    const now = options.now.toISOString();
    const rows = this.#db.all<{ id: number }>(
      `UPDATE deliveries
      SET state = ${state('pending')}, attempts = 0, due_at = ?, last_error = NULL,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
      WHERE ${where}
      RETURNING id`,
      now,
      now,
      ...params,
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  async cancelDelivery(deliveryId: number): Promise<boolean> {
    const { changes } = this.#db.run(SQL.cancelDelivery, new Date().toISOString(), deliveryId);
    return changes > 0;
  }

  async setTargetDisabled(target: string, disabled: boolean, reason: string | null): Promise<void> {
    this.#db.run(SQL.upsertTarget, target, disabled ? 1 : 0, reason, new Date().toISOString());
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#db.run(SQL.insertAudit, new Date().toISOString(), entry.action, entry.subject, JSON.stringify(entry.details));
  }

  async recordUsage(usage: NewUsage): Promise<{ duplicate: false } | { duplicate: true; existing: NewUsage }> {
    const inserted = this.#db.get<{ id: number }>(
      SQL.insertUsage,
      usage.identifier,
      usage.eventId,
      usage.eventName,
      usage.ruleId,
      usage.actionIndex,
      usage.customer,
      usage.meter,
      usage.quantity,
      usage.unit,
      usage.occurredAt.toISOString(),
      new Date().toISOString(),
    );
    if (inserted) return { duplicate: false };
    return { duplicate: true, existing: toUsage(this.#db.get<UsageRow>(SQL.selectUsageByIdentifier, usage.identifier)!) };
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
