/**
 * The Store on PostgreSQL (`pg`), for several replicas on one database. Each transaction runs on a pooled connection
 * of its own, so replicas and concurrent requests write side by side; row locks, advisory locks and `SKIP LOCKED`
 * keep dedupe, session statuses, claims and ordering groups correct between them.
 */
import pg from 'pg';
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
import { postgresMigrations } from './migrations/postgres.ts';
import { pageStart, toPage, type PageRequest } from './page.ts';
import { connect, postgresTarget, query, type PostgresTarget, type Sql } from './postgres/connection.ts';
import { decideTransition, type CurrentSession } from './session-transition.ts';
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


/** Statements prepared once per connection under their key's name. */
function prepared<Texts extends Record<string, string>>(texts: Texts): { [Key in keyof Texts]: Sql } {
  return Object.fromEntries(
    Object.entries(texts).map(([key, text]) => [key, { name: `switchboard_${key}`, text }]),
  ) as { [Key in keyof Texts]: Sql };
}

// Unquoted names are folded to lower case, so the camelCase aliases are quoted.
const DELIVERY_COLUMNS = `
  id, event_id AS "eventId", event_seq AS "eventSeq", event_name AS "eventName", rule_id AS "ruleId",
  action_index AS "actionIndex", plugin, params, target, ordering_key AS "orderingKey", state, attempts,
  max_attempts AS "maxAttempts", retry_schedule AS "retrySchedule", timeout_ms AS "timeoutMs", due_at AS "dueAt",
  lease_owner AS "leaseOwner", lease_expires_at AS "leaseExpiresAt", last_error AS "lastError",
  trace_context AS "traceContext", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** What a claim returns of each delivery's event, so that its attempt needs no query of its own. */
const CLAIMED_EVENT_COLUMNS = `
  (SELECT body FROM events WHERE events.id = deliveries.event_id) AS "eventBody",
  (SELECT created_at FROM events WHERE events.id = deliveries.event_id) AS "eventCreatedAt"`;

const USAGE_COLUMNS = `
  usage.id, usage.identifier, usage.event_id AS "eventId", usage.event_name AS "eventName", usage.rule_id AS "ruleId",
  usage.action_index AS "actionIndex", usage.customer, usage.meter, usage.quantity, usage.unit,
  usage.occurred_at AS "occurredAt", usage.recorded_at AS "recordedAt"`;

/** Held by `migrate()` for its duration, so replicas starting together migrate one at a time. */
const MIGRATION_LOCK_KEY = `hashtextextended('switchboard', 0)`;

/** What every claim candidate must also satisfy: an enabled target, not skipped here, first of its ordering group. */
const CLAIM_FILTERS = `candidate.target NOT IN (SELECT target FROM targets WHERE disabled)
          AND candidate.target <> ALL ($4::text[])
          AND ${FIRST_OF_ITS_GROUP}`;

const SQL = {
  createSchemaMigrations: `
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL
    )`,
  lockMigrations: `SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`,
  unlockMigrations: `SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`,
  schemaExists: 'SELECT 1 FROM pg_namespace WHERE nspname = $1',
  appliedVersions: 'SELECT version FROM schema_migrations ORDER BY version',
  recordMigration: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
  // One statement, as in SQLite, with the candidates locked by SKIP LOCKED: a replica passes over rows another is
  // claiming, and a row claimed since this statement began fails the re-check of its state and lease. A later
  // delivery of a group waits while an earlier one is unfinished: the earlier is pending or running whether or not
  // another replica's claim of it has committed, so a group is never claimed twice at once.
  // Due deliveries and expired leases are found apart, each through its own partial index; SKIP LOCKED passes over
  // rows another replica is claiming right now.
  // Not prepared: planned afresh at each call. A plan cached while the tables were nearly empty checks each candidate
  // against every unfinished delivery, not through the ordering-group index: 326 ms for a claim over a backlog of
  // 3,000 against 6.4 ms (bench/pg-claim.ts). Claims come at most every 5 ms; planning one takes about 1.5 ms.
  claimDeliveries: `
    WITH due AS (
      SELECT candidate.id, candidate.due_at FROM deliveries AS candidate
      WHERE candidate.state IN (${states(CLAIMABLE_STATES)}) AND candidate.due_at <= $3 AND ${CLAIM_FILTERS}
      ORDER BY candidate.due_at, candidate.id
      LIMIT $5
      FOR UPDATE OF candidate SKIP LOCKED
    ), expired AS (
      SELECT candidate.id, candidate.due_at FROM deliveries AS candidate
      WHERE candidate.state = ${state('running')} AND candidate.lease_expires_at <= $3 AND ${CLAIM_FILTERS}
      ORDER BY candidate.lease_expires_at
      LIMIT $5
      FOR UPDATE OF candidate SKIP LOCKED
    ), chosen AS (
      SELECT id AS chosen_id FROM (SELECT id, due_at FROM due UNION ALL SELECT id, due_at FROM expired) AS both_kinds
      ORDER BY due_at, id
      LIMIT $5
    )
    UPDATE deliveries
    SET state = ${state('running')}, lease_owner = $1, lease_expires_at = $2, updated_at = $3
    FROM chosen
    WHERE deliveries.id = chosen.chosen_id
    RETURNING ${DELIVERY_COLUMNS}, ${CLAIMED_EVENT_COLUMNS}`,
  ...prepared({
    // A concurrent insert of the same id waits for the first transaction: if it commits, this one does nothing.
    insertEvent: `
      INSERT INTO events (id, name, created_at, api_key, body, received_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (id) DO NOTHING
      RETURNING seq`,
    saveOutcome: 'UPDATE events SET matched = $1, actions = $2 WHERE id = $3',
    selectEvent: `
      SELECT seq, id, name, created_at AS "createdAt", api_key AS "apiKey", body, received_at AS "receivedAt",
        matched, actions
      FROM events WHERE id = $1`,
    lockSession: `
      SELECT status, event_created_at AS "eventCreatedAt", event_seq AS "eventSeq"
      FROM sessions WHERE key = $1
      FOR UPDATE`,
    // Before a session's first transition there is no row to lock: its key is locked instead, until commit.
    lockNewSession: `SELECT pg_advisory_xact_lock(hashtextextended('switchboard.session:' || $1, 0))`,
    upsertSession: `
      INSERT INTO sessions (key, status, event_id, event_created_at, event_seq, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (key) DO UPDATE SET
        status = excluded.status,
        event_id = excluded.event_id,
        event_created_at = excluded.event_created_at,
        event_seq = excluded.event_seq,
        updated_at = excluded.updated_at`,
    insertHistory: `
      INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    selectSession: 'SELECT key, status, updated_at AS "updatedAt", event_id AS "eventId" FROM sessions WHERE key = $1',
    selectHistory: `
      SELECT status, old_status AS "oldStatus", event_id AS "eventId", event_name AS "eventName",
        event_created_at AS "eventCreatedAt", at
      FROM session_history WHERE key = $1 ORDER BY id DESC LIMIT $2`,

    // Held until commit: deliveries of one ordering group are written one transaction at a time, so their ids
    // follow their commits and no claim can see a later one while an earlier one is still being written.
    lockOrderingGroup: `SELECT pg_advisory_xact_lock(hashtextextended('switchboard.ordering:' || $1, 0))`,
    insertDelivery: `
      INSERT INTO deliveries (
        event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key, state,
        max_attempts, retry_schedule, timeout_ms, due_at, trace_context, created_at, updated_at, lease_owner,
        lease_expires_at
      )
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN lease.granted THEN ${state('running')} ELSE ${state('pending')} END,
        $10, $11, $12, $13, $14, $15, $15, CASE WHEN lease.granted THEN $16::text END,
        CASE WHEN lease.granted THEN $17::timestamptz END
      FROM (SELECT ${leaseGranted({
        owner: '$16::text',
        target: '$8::text',
        ruleId: '$4::text',
        actionIndex: '$5::integer',
        orderingKey: '$9::text',
        disabledTarget: 'disabled',
      })} AS granted) AS lease
      ON CONFLICT (event_id, rule_id, action_index) DO NOTHING
      RETURNING id, state`,
    selectDeliveryId: 'SELECT id FROM deliveries WHERE event_id = $1 AND rule_id = $2 AND action_index = $3',
    // One statement, so that a completion needing nothing else is one round trip, with no BEGIN and COMMIT.
    completeAttempt: `
      WITH finished AS (
        UPDATE deliveries
        SET state = $1, attempts = $2, due_at = COALESCE($3, due_at), last_error = $4,
          lease_owner = NULL, lease_expires_at = NULL, updated_at = $5
        WHERE id = $6 AND state = ${state('running')} AND lease_owner = $7
        RETURNING id
      )
      INSERT INTO delivery_attempts (
        delivery_id, number, started_at, duration_ms, succeeded, status_code, error, response
      )
      SELECT id, $2, $8, $9, $10, $11, $4, $12 FROM finished`,
    deferDelivery: `
      UPDATE deliveries
      SET state = ${GIVEN_BACK_STATE}, due_at = $1, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
      WHERE id = $3 AND state = ${state('running')} AND lease_owner = $4`,
    extendLeases: `
      UPDATE deliveries SET lease_expires_at = $1, updated_at = $2
      WHERE state = ${state('running')} AND lease_owner = $3 AND id = ANY ($4::bigint[])`,
    releaseLeases: `
      UPDATE deliveries
      SET state = ${GIVEN_BACK_STATE}, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
      WHERE state = ${state('running')} AND lease_owner = $2`,
    cancelDelivery: `
      UPDATE deliveries SET state = ${state('cancelled')}, updated_at = $1
      WHERE id = $2 AND state IN (${states(CANCELLABLE_STATES)})`,
    upsertTarget: `
      INSERT INTO targets (target, disabled, reason, changed_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (target) DO UPDATE SET
        disabled = excluded.disabled,
        reason = excluded.reason,
        changed_at = excluded.changed_at`,
    insertAudit: 'INSERT INTO audit_log (at, action, subject, details) VALUES ($1, $2, $3, $4)',

    selectDelivery: `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = $1`,
    selectAttempts: `
      SELECT delivery_id AS "deliveryId", number, started_at AS "startedAt", duration_ms AS "durationMs", succeeded,
        status_code AS "statusCode", error, response
      FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id`,
    countDeliveries: 'SELECT state, COUNT(*) AS count FROM deliveries GROUP BY state',
    oldestDueAt: `
      SELECT MIN(due_at) AS "dueAt" FROM deliveries WHERE state IN (${states(CLAIMABLE_STATES)}) AND due_at <= $1`,
    selectTargets: `
      SELECT known.target, targets.disabled, targets.reason, targets.changed_at AS "changedAt"
      FROM (SELECT DISTINCT target FROM deliveries UNION SELECT target FROM targets) AS known
      LEFT JOIN targets ON targets.target = known.target
      ORDER BY known.target`,
    selectAudit: 'SELECT id, at, action, subject, details FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2',
    ping: 'SELECT 1 AS ok',

    insertUsage: `
      INSERT INTO usage_ledger (
        identifier, event_id, event_name, rule_id, action_index, customer, meter, quantity, unit, occurred_at,
        recorded_at
      ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      ON CONFLICT (identifier) DO NOTHING
      RETURNING id`,
    selectUsageByIdentifier: `SELECT ${USAGE_COLUMNS} FROM usage_ledger AS usage WHERE identifier = $1`,
  }),
};

/** The conditions a usage filter puts on the usage ledger (as `usage`), their values appended to `values`. */
function usageConditions(filter: UsageFilter, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(condition(`$${values.length}`));
  };
  if (filter.customer !== undefined) add((value) => `usage.customer = ${value}`, filter.customer);
  if (filter.meter !== undefined) add((value) => `usage.meter = ${value}`, filter.meter);
  if (filter.from !== undefined) add((value) => `usage.occurred_at >= ${value}`, filter.from);
  if (filter.to !== undefined) add((value) => `usage.occurred_at < ${value}`, filter.to);
  return conditions;
}

/** The conditions a delivery filter puts on the deliveries table, their values appended to `values`. */
function deliveryConditions(filter: DeliveryFilter & { ids?: readonly number[] }, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = (condition: (placeholder: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(condition(`$${values.length}`));
  };
  if (filter.state !== undefined) add((value) => `state = ${value}`, filter.state);
  if (filter.rule !== undefined) add((value) => `rule_id = ${value}`, filter.rule);
  if (filter.target !== undefined) add((value) => `target = ${value}`, filter.target);
  if (filter.ids !== undefined) add((value) => `id = ANY (${value}::bigint[])`, filter.ids);
  return conditions;
}

/** JSON parameters go as JSON text: the driver would send a JS array as a PostgreSQL array. */
function json(value: unknown): string {
  return JSON.stringify(value);
}

function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The values of SQL.completeAttempt. */
function completionValues(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): unknown[] {
  return [
    verdict.state,
    attempt.number,
    verdict.state === 'failed-waiting-retry' ? verdict.dueAt : null,
    jsonOrNull(attempt.error),
    new Date(),
    attempt.deliveryId,
    owner,
    attempt.startedAt,
    attempt.durationMs,
    attempt.succeeded,
    attempt.statusCode ?? null,
    attempt.response === undefined ? null : truncateResponse(attempt.response),
  ];
}

interface DeliveryRow extends Omit<Delivery, 'state' | 'traceContext'> {
  state: string;
  traceContext: Record<string, string> | null;
}

interface ClaimedDeliveryRow extends DeliveryRow {
  eventBody: string | null;
  eventCreatedAt: number | null;
}

interface AttemptRow extends Pick<DeliveryAttempt, 'deliveryId' | 'number' | 'startedAt' | 'durationMs' | 'succeeded'> {
  statusCode: number | null;
  error: { code: string; message: string } | null;
  response: string | null;
}

interface TargetRow {
  target: string;
  disabled: boolean | null;
  reason: string | null;
  changedAt: Date | null;
}

interface UsageRow extends Omit<UsageEntry, 'delivery'> {
  deliveryId?: number | null;
  deliveryState?: string | null;
}

function toUsage(row: UsageRow): UsageEntry {
  const { deliveryId, deliveryState, ...columns } = row;
  return { ...columns, delivery: deliveryId == null ? null : { id: deliveryId, state: deliveryState as DeliveryState } };
}

function toDelivery(row: DeliveryRow): Delivery {
  const { traceContext, ...columns } = row;
  return {
    ...columns,
    state: row.state as DeliveryState,
    ...(traceContext === null ? {} : { traceContext }),
  };
}

function toClaimedDelivery(row: ClaimedDeliveryRow): ClaimedDelivery {
  const { eventBody, eventCreatedAt, ...delivery } = row;
  return withClaimedEvent(toDelivery(delivery), eventBody, eventCreatedAt);
}

function toAttempt(row: AttemptRow): DeliveryAttempt {
  const { statusCode, error, response, ...columns } = row;
  return {
    ...columns,
    ...(statusCode === null ? {} : { statusCode }),
    ...(error === null ? {} : { error }),
    ...(response === null ? {} : { response }),
  };
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly #target: PostgresTarget;
  readonly #pool: pg.Pool;
  /** Operations under way, which `close()` lets finish. */
  readonly #running = new Set<Promise<void>>();
  #closing: Promise<void> | null = null;

  /** Reads `url` (see `postgresTarget` for its parameters); connects only when first used. */
  constructor(url: string) {
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
        await run(SQL.lockMigrations);
        const { schema } = this.#target;
        // Looked up first: creating, even IF NOT EXISTS, needs a privilege a role that only uses the schema may lack.
        if (schema !== null && (await run(SQL.schemaExists, [schema])).rowCount === 0) {
          await run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        }
        await run(SQL.createSchemaMigrations);
        const applied = (await run(SQL.appliedVersions)).rows.map((row) => row.version as number);
        const pending = pendingMigrations(postgresMigrations, applied);
        for (const migration of pending) {
          await run('BEGIN');
          await run(migration.sql);
          await run(SQL.recordMigration, [migration.version, migration.name, new Date()]);
          await run('COMMIT');
        }
        await run(SQL.unlockMigrations);
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
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.#use(async () => {
      const { display } = this.#target;
      const client = await connect(this.#pool, display);
      // A connection that breaks while `work` awaits something else would otherwise crash the process with an
      // unhandled 'error'; the failure shows in the next statement instead.
      const ignore = () => undefined;
      client.on('error', ignore);
      const finish = (discard: boolean) => {
        client.off('error', ignore);
        client.release(discard);
      };
      try {
        await query(client, display, 'BEGIN');
        const tx = new PostgresTx(client, display);
        let result: T;
        try {
          result = await work(tx);
        } finally {
          // Before COMMIT, so a stray call after `work` settled cannot run outside the transaction.
          tx.end();
        }
        await query(client, display, 'COMMIT');
        finish(false);
        return result;
      } catch (error) {
        const rolledBack = await query(client, display, 'ROLLBACK').then(
          () => true,
          () => false,
        );
        finish(!rolledBack);
        throw error;
      }
    });
  }

  getEvent(id: string): Promise<StoredEvent | null> {
    return this.#use(async () => (await this.#rows<StoredEvent>(SQL.selectEvent, [id]))[0] ?? null);
  }

  completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    return this.#use(async () => {
      const { rowCount } = await query(this.#pool, this.#target.display, SQL.completeAttempt, completionValues(owner, attempt, verdict));
      return (rowCount ?? 0) > 0;
    });
  }

  getSession(key: string): Promise<SessionStatus | null> {
    return this.#use(async () => {
      const [session] = await this.#rows<Omit<SessionStatus, 'history'>>(SQL.selectSession, [key]);
      if (!session) return null;
      const history = await this.#rows<SessionHistoryEntry>(SQL.selectHistory, [key, SESSION_HISTORY_LIMIT]);
      return { ...session, history };
    });
  }

  listDeliveries(filter: DeliveryFilter, page: PageRequest): Promise<Page<Delivery>> {
    return this.#use(async () => {
      const start = pageStart(page);
      const values: unknown[] = [];
      const where = [...deliveryConditions(filter, values), `id < $${values.length + 1}`].join(' AND ');
      const rows = await this.#rows<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE ${where} ORDER BY id DESC LIMIT $${values.length + 2}`,
        [...values, start.beforeId, start.limit + 1],
      );
      return toPage(rows.map(toDelivery), start);
    });
  }

  getDelivery(id: number): Promise<DeliveryWithAttempts | null> {
    return this.#use(async () => {
      const [row] = await this.#rows<DeliveryRow>(SQL.selectDelivery, [id]);
      if (!row) return null;
      const attempts = await this.#rows<AttemptRow>(SQL.selectAttempts, [id]);
      return { ...toDelivery(row), attemptLog: attempts.map(toAttempt) };
    });
  }

  countDeliveries(): Promise<Record<DeliveryState, number>> {
    return this.#use(async () => {
      const counts = zeroPerState();
      for (const row of await this.#rows<{ state: DeliveryState; count: number }>(SQL.countDeliveries)) {
        counts[row.state] = row.count;
      }
      return counts;
    });
  }

  oldestDueAt(now: Date): Promise<Date | null> {
    return this.#use(async () => (await this.#rows<{ dueAt: Date | null }>(SQL.oldestDueAt, [now]))[0].dueAt);
  }

  listTargets(): Promise<TargetRecord[]> {
    return this.#use(async () =>
      (await this.#rows<TargetRow>(SQL.selectTargets)).map((row) => ({ ...row, disabled: row.disabled === true })),
    );
  }

  listAudit(page: PageRequest): Promise<Page<AuditRecord>> {
    return this.#use(async () => {
      const start = pageStart(page);
      return toPage(await this.#rows<AuditRecord>(SQL.selectAudit, [start.beforeId, start.limit + 1]), start);
    });
  }

  listUsage(filter: UsageFilter, page: PageRequest): Promise<Page<UsageEntry>> {
    return this.#use(async () => {
      const start = pageStart(page);
      const values: unknown[] = [];
      const where = [...usageConditions(filter, values), `usage.id < $${values.length + 1}`].join(' AND ');
      const rows = await this.#rows<UsageRow>(
        `SELECT ${USAGE_COLUMNS}, delivery.id AS "deliveryId", delivery.state AS "deliveryState"
        FROM usage_ledger AS usage
        LEFT JOIN deliveries AS delivery ON delivery.event_id = usage.event_id AND delivery.rule_id = usage.rule_id
          AND delivery.action_index = usage.action_index
        WHERE ${where} ORDER BY usage.id DESC LIMIT $${values.length + 2}`,
        [...values, start.beforeId, start.limit + 1],
      );
      return toPage(rows.map(toUsage), start);
    });
  }

  sumUsage(filter: UsageFilter): Promise<UsageTotal[]> {
    return this.#use(async () => {
      const values: unknown[] = [];
      const conditions = usageConditions(filter, values);
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
      // SUM of bigint is numeric; back to bigint (read as a number) for a total that is exact and typed like the rows.
      return this.#rows<UsageTotal>(
        `SELECT customer, meter, unit, SUM(quantity)::bigint AS quantity, COUNT(*) AS records
        FROM usage_ledger AS usage ${where}
        GROUP BY customer, meter, unit ORDER BY customer, meter, unit`,
        values,
      );
    });
  }

  ping(): Promise<void> {
    return this.#use(async () => {
      await this.#rows(SQL.ping);
    });
  }

  /** Lets operations already under way finish, then closes the pool; later calls get E_STORE_UNAVAILABLE. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.#running);
      await this.#pool.end();
    })();
    return this.#closing;
  }

  async #rows<Row extends pg.QueryResultRow>(sql: Sql, values: unknown[] = []): Promise<Row[]> {
    return (await query<Row>(this.#pool, this.#target.display, sql, values)).rows;
  }

  async #use<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new SwitchboardError('E_STORE_UNAVAILABLE', 'The store is closed.');
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

/** The writes of one transaction. Refuses use once the transaction has ended, so a stray call cannot autocommit. */
class PostgresTx implements StoreTx {
  readonly #client: pg.PoolClient;
  readonly #display: string;
  #ended = false;

  constructor(client: pg.PoolClient, display: string) {
    this.#client = client;
    this.#display = display;
  }

  end(): void {
    this.#ended = true;
  }

  async recordEvent(record: EventRecord): Promise<{ duplicate: false; seq: number } | { duplicate: true }> {
    const [inserted] = await this.#rows<{ seq: number }>(SQL.insertEvent, [
      record.id,
      record.name,
      record.createdAt,
      record.apiKey,
      record.body,
      record.receivedAt,
    ]);
    return inserted ? { duplicate: false, seq: inserted.seq } : { duplicate: true };
  }

  async saveOutcome(eventId: string, outcome: EventOutcome): Promise<void> {
    const changes = await this.#run(SQL.saveOutcome, [json(outcome.matched), json(outcome.actions), eventId]);
    if (changes === 0) {
      throw new SwitchboardError('E_INTERNAL', `Cannot save the outcome of event ${eventId}: it was never recorded.`);
    }
  }

  async transitionSession(request: SessionTransitionRequest, event: OrderingEvent): Promise<SessionTransition> {
    const current = await this.#lockSession(request.key);
    const decision = decideTransition(current, request, event);
    if (!decision.applied) return decision;

    const at = new Date();
    await this.#run(SQL.upsertSession, [request.key, decision.new_status, event.id, event.createdAt, event.seq, at]);
    if (decision.new_status !== decision.old_status) {
      await this.#run(SQL.insertHistory, [
        request.key,
        decision.new_status,
        decision.old_status,
        event.id,
        event.name,
        event.createdAt,
        at,
      ]);
    }
    return decision;
  }

  async savepoint<T>(work: () => Promise<T>): Promise<T> {
    await this.#run(`SAVEPOINT ${TX_SAVEPOINT}`);
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await this.#run(`ROLLBACK TO SAVEPOINT ${TX_SAVEPOINT}`);
      await this.#run(`RELEASE SAVEPOINT ${TX_SAVEPOINT}`);
      throw error;
    }
    await this.#run(`RELEASE SAVEPOINT ${TX_SAVEPOINT}`);
    return result;
  }

  /** See StoreTx.enqueueDelivery; the ordering group's lock keeps its lease decision and insert together. */
  async enqueueDelivery(delivery: NewDelivery, lease?: DeliveryLease): Promise<Enqueued> {
    if (delivery.orderingKey !== null) {
      await this.#run(SQL.lockOrderingGroup, [json([delivery.ruleId, delivery.actionIndex, delivery.orderingKey])]);
    }
    const [inserted] = await this.#rows<{ id: number; state: string }>(SQL.insertDelivery, [
      delivery.eventId,
      delivery.eventSeq,
      delivery.eventName,
      delivery.ruleId,
      delivery.actionIndex,
      delivery.plugin,
      json(delivery.params),
      delivery.target,
      delivery.orderingKey,
      delivery.maxAttempts,
      json(delivery.retrySchedule),
      delivery.timeoutMs,
      delivery.dueAt,
      jsonOrNull(delivery.traceContext),
      new Date(),
      lease?.owner ?? null,
      lease?.expiresAt ?? null,
    ]);
    if (inserted) return { id: inserted.id, leased: inserted.state === 'running' };
    const [existing] = await this.#rows<{ id: number }>(SQL.selectDeliveryId, [
      delivery.eventId,
      delivery.ruleId,
      delivery.actionIndex,
    ]);
    return { id: existing.id, leased: false };
  }

  async claimDueDeliveries(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const rows = await this.#rows<ClaimedDeliveryRow>(SQL.claimDeliveries, [
      request.owner,
      new Date(request.now.getTime() + request.leaseMs),
      request.now,
      request.skipTargets,
      request.limit,
    ]);
    // RETURNING gives rows in no promised order.
    return rows.map(toClaimedDelivery).sort(byDueTimeThenId);
  }

  async completeAttempt(owner: string, attempt: DeliveryAttempt, verdict: AttemptVerdict): Promise<boolean> {
    return (await this.#run(SQL.completeAttempt, completionValues(owner, attempt, verdict))) > 0;
  }

  /** Back to pending, or to waiting for a retry when attempts were already spent; the attempt count stays. */
  async deferDelivery(owner: string, deliveryId: number, dueAt: Date): Promise<boolean> {
    return (await this.#run(SQL.deferDelivery, [dueAt, new Date(), deliveryId, owner])) > 0;
  }

  /** Leases `owner` no longer holds (taken over after they expired) stay with their new owner. */
  async extendLeases(owner: string, deliveryIds: number[], until: Date): Promise<void> {
    await this.#run(SQL.extendLeases, [until, new Date(), owner, deliveryIds]);
  }

  async releaseLeases(owner: string): Promise<number> {
    return this.#run(SQL.releaseLeases, [new Date(), owner]);
  }

  async replayDeliveries(
    filter: DeliveryFilter & { ids?: number[] },
    options: { force: boolean; now: Date },
  ): Promise<number[]> {
    const from = replaySources(options.force);
    const values: unknown[] = [options.now];
    const where = [`state IN (${states(from)})`, ...deliveryConditions(filter, values)].join(' AND ');
    const rows = await this.#rows<{ id: number }>(
      `UPDATE deliveries
      SET state = ${state('pending')}, attempts = 0, due_at = $1, last_error = NULL,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
      WHERE ${where}
      RETURNING id`,
      values,
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  async cancelDelivery(deliveryId: number): Promise<boolean> {
    return (await this.#run(SQL.cancelDelivery, [new Date(), deliveryId])) > 0;
  }

  async setTargetDisabled(target: string, disabled: boolean, reason: string | null): Promise<void> {
    await this.#run(SQL.upsertTarget, [target, disabled, reason, new Date()]);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#run(SQL.insertAudit, [new Date(), entry.action, entry.subject, json(entry.details)]);
  }

  /** A concurrent insert of the same identifier waits for the first transaction: if it commits, this one is a duplicate. */
  async recordUsage(usage: NewUsage): Promise<{ duplicate: false } | { duplicate: true; existing: NewUsage }> {
    const [inserted] = await this.#rows<{ id: number }>(SQL.insertUsage, [
      usage.identifier,
      usage.eventId,
      usage.eventName,
      usage.ruleId,
      usage.actionIndex,
      usage.customer,
      usage.meter,
      usage.quantity,
      usage.unit,
      usage.occurredAt,
      new Date(),
    ]);
    if (inserted) return { duplicate: false };
    const [existing] = await this.#rows<UsageRow>(SQL.selectUsageByIdentifier, [usage.identifier]);
    return { duplicate: true, existing: toUsage(existing) };
  }

  /**
   * Locks the session's row or, before its first transition, its key, so that concurrent transitions of one session
   * take turns and each decides on the status the one before it committed.
   */
  async #lockSession(key: string): Promise<CurrentSession | null> {
    const [locked] = await this.#rows<CurrentSession>(SQL.lockSession, [key]);
    if (locked) return locked;
    await this.#run(SQL.lockNewSession, [key]);
    // Whoever held the key may have created the row meanwhile.
    const [created] = await this.#rows<CurrentSession>(SQL.lockSession, [key]);
    return created ?? null;
  }

  async #rows<Row extends pg.QueryResultRow>(sql: Sql, values: unknown[] = []): Promise<Row[]> {
    return (await this.#query<Row>(sql, values)).rows;
  }

  /** Runs a statement, returning how many rows it changed. */
  async #run(sql: Sql, values: unknown[] = []): Promise<number> {
    return (await this.#query(sql, values)).rowCount ?? 0;
  }

  #query<Row extends pg.QueryResultRow>(sql: Sql, values: unknown[]): Promise<pg.QueryResult<Row>> {
    if (this.#ended) {
      throw new SwitchboardError(
        'E_INTERNAL',
        'A store transaction was used after it ended: its writes must be awaited inside the transaction callback.',
      );
    }
    return query<Row>(this.#client, this.#display, sql, values);
  }
}
