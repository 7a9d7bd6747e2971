/** The store's statements, written once: a dialect only turns placeholders, types a few parameters and lists. */
import type { Dialect } from './dialect.ts';
import { UNFINISHED_STATES } from '../delivery-state.ts';
import { BEHIND_ITS_GROUP, FIRST_OF_ITS_GROUP, GIVEN_BACK_STATE, leaseGranted, movableBy, state, states } from './moves.ts';

// Unquoted names are folded to lower case in PostgreSQL, so the camelCase aliases are quoted (alike in SQLite).
export const DELIVERY_COLUMNS = `
  id, event_id AS "eventId", event_seq AS "eventSeq", event_name AS "eventName", rule_id AS "ruleId",
  action_index AS "actionIndex", plugin, params, target, ordering_key AS "orderingKey", state, attempts,
  max_attempts AS "maxAttempts", retry_schedule AS "retrySchedule", timeout_ms AS "timeoutMs", due_at AS "dueAt",
  lease_owner AS "leaseOwner", lease_expires_at AS "leaseExpiresAt", last_error AS "lastError",
  trace_context AS "traceContext", created_at AS "createdAt", updated_at AS "updatedAt", action_key AS "actionKey"`;

/** What a claim returns of each delivery's event, so that its attempt needs no query of its own. */
const CLAIMED_EVENT_COLUMNS = `
  (SELECT body FROM events WHERE events.id = deliveries.event_id) AS "eventBody",
  (SELECT created_at FROM events WHERE events.id = deliveries.event_id) AS "eventCreatedAt"`;

export const USAGE_COLUMNS = `
  usage.id, usage.identifier, usage.event_id AS "eventId", usage.event_name AS "eventName", usage.rule_id AS "ruleId",
  usage.action_index AS "actionIndex", usage.customer, usage.meter, usage.quantity, usage.unit,
  usage.occurred_at AS "occurredAt", usage.recorded_at AS "recordedAt"`;

/** A session's history entry, as the admin API reads it. */
export const HISTORY_COLUMNS = `status, old_status AS "oldStatus", event_id AS "eventId", event_name AS "eventName",
        event_created_at AS "eventCreatedAt", at`;

/** What a session's current row takes from the event that moved it (an upsert's ON CONFLICT … SET). */
export const SESSION_EVENT_UPDATE =
  'status = excluded.status, event_id = excluded.event_id, event_created_at = excluded.event_created_at, ' +
  'event_seq = excluded.event_seq';

type Scan = (index: 'deliveries_claimable' | 'deliveries_leased', where: string, order: string) => string;

/**
 * The claim, one statement: it reads and leases, so two workers never claim the same delivery. A delivery waits
 * while an earlier one of its ordering group is unfinished, which also keeps a later one out of the batch that claims
 * the earlier one; an expired lease is reclaimed like any due delivery. Never prepared: see Dialect.claimChosen.
 */
function claim(dialect: Dialect, scan: Scan): string {
  const chosen = dialect.claimChosen({
    due: scan('deliveries_claimable', `${movableBy('claim', 'candidate.state')} AND candidate.due_at <= $3`, 'candidate.due_at, candidate.id'),
    expired: scan('deliveries_leased', `${movableBy('reclaim', 'candidate.state')} AND candidate.lease_expires_at <= $3`, 'candidate.lease_expires_at'),
    firstDue: `ORDER BY due_at, id
      LIMIT $5`,
  });
  return `${chosen.before}
    UPDATE deliveries
    SET state = ${state('running')}, lease_owner = $1, lease_expires_at = $2, updated_at = $3${chosen.from}
    WHERE ${chosen.where}
    RETURNING ${DELIVERY_COLUMNS}, ${CLAIMED_EVENT_COLUMNS}`;
}

/** The statements, in `dialect`. */
export function statements(dialect: Dialect) {
  const { statement, typed } = dialect;

  /** What every claim candidate must also satisfy: an enabled target, not skipped here, first of its ordering group. */
  const claimFilters = `candidate.target NOT IN (SELECT target FROM targets WHERE ${dialect.isTrue('disabled')})
          AND ${dialect.inList('candidate.target', '$4', 'text', true)}
          AND ${FIRST_OF_ITS_GROUP}`;
  // Due deliveries and expired leases are found apart, each by an ordered scan of its own partial index that stops
  // at the limit, so a claim costs the same with a backlog of ten or of a hundred thousand.
  const scan: Scan = (index, where, order) => {
    const { from, lock } = dialect.claimScan(index);
    return `
          SELECT candidate.id, candidate.due_at FROM deliveries AS candidate${from}
          WHERE ${where} AND ${claimFilters}
          ORDER BY ${order}
          LIMIT $5${lock}`;
  };

  return {
    insertEvent: statement(
      `INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
      ON CONFLICT (id) DO NOTHING
      ${dialect.returningKey('seq')}`,
      'insertEvent',
    ),
    // Looked up after the event's insert, not before: on PostgreSQL the insert waits for a prune batch deleting the
    // same id to commit, and this lookup, a statement of its own with a fresh snapshot, then sees the batch's tombstone.
    isTombstone: statement('SELECT 1 AS found FROM event_tombstones WHERE id = $1', 'isTombstone'),
    undoEvent: statement('DELETE FROM events WHERE seq = $1', 'undoEvent'),

    // INSERT … SELECT with WHERE true: without a WHERE, SQLite would read ON CONFLICT as part of the SELECT.
    insertDelivery: statement(
      `INSERT INTO deliveries (
        event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key, state,
        max_attempts, retry_schedule, timeout_ms, due_at, trace_context, created_at, updated_at, lease_owner,
        lease_expires_at, action_key
      )
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN lease.granted THEN ${state('running')} ELSE ${state('pending')} END,
        $10, $11, $12, $13, $14, $15, $15, CASE WHEN lease.granted THEN ${typed('$16', 'text')} END,
        CASE WHEN lease.granted THEN ${typed('$17', 'timestamptz')} END, ${typed('$18', 'text')}
      FROM (SELECT ${leaseGranted({
        owner: typed('$16', 'text'),
        target: typed('$8', 'text'),
        ruleId: typed('$4', 'text'),
        actionIndex: typed('$5', 'integer'),
        orderingKey: typed('$9', 'text'),
        disabledTarget: dialect.isTrue('disabled'),
      })} AS granted) AS lease
      WHERE true
      ON CONFLICT (event_id, rule_id, action_index) DO NOTHING
      RETURNING id, state`,
      'insertDelivery',
    ),
    selectDeliveryId: statement(
      'SELECT id FROM deliveries WHERE event_id = $1 AND rule_id = $2 AND action_index = $3',
      'selectDeliveryId',
    ),
    // One statement reads and leases, so two workers never claim the same delivery. A delivery waits while an
    // earlier one of its ordering group is unfinished, which also keeps a later one out of the batch that claims the
    // earlier one; an expired lease is reclaimed like any due delivery. Never prepared: see Dialect.claim.
    claimDeliveries: statement(claim(dialect, scan)),
    // The group's first unfinished delivery (one probe of deliveries_unfinished_by_ordering_group), if claimable.
    claimNextOfGroup: statement(
      `UPDATE deliveries
      SET state = ${state('running')}, lease_owner = $1, lease_expires_at = $2, updated_at = $3
      WHERE id = (
          SELECT candidate.id FROM deliveries AS candidate
          WHERE candidate.rule_id = $5 AND candidate.action_index = $6 AND candidate.ordering_key = $7
            AND candidate.state IN (${states(UNFINISHED_STATES)})
          ORDER BY candidate.id
          LIMIT 1
        )
        AND ${movableBy('claim')} AND due_at <= $3
        AND target NOT IN (SELECT target FROM targets WHERE ${dialect.isTrue('disabled')})
        AND ${dialect.inList('target', '$4', 'text', true)}
      RETURNING ${DELIVERY_COLUMNS}, ${CLAIMED_EVENT_COLUMNS}`,
      'claimNextOfGroup',
    ),
    deferDelivery: statement(
      `UPDATE deliveries
      SET state = ${GIVEN_BACK_STATE}, due_at = $1, lease_owner = NULL, lease_expires_at = NULL, updated_at = $2
      WHERE id = $3 AND ${movableBy('defer')} AND lease_owner = $4`,
      'deferDelivery',
    ),
    extendLeases: statement(
      `UPDATE deliveries SET lease_expires_at = $1, updated_at = $2
      WHERE state = ${state('running')} AND lease_owner = $3 AND ${dialect.inList('id', '$4', 'bigint')}`,
      'extendLeases',
    ),
    // A claimed delivery was due when claimed, so keeping its due time makes it claimable at once, in its old place.
    releaseLeases: statement(
      `UPDATE deliveries
      SET state = ${GIVEN_BACK_STATE}, lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
      WHERE ${movableBy('release')} AND lease_owner = $2`,
      'releaseLeases',
    ),
    cancelDelivery: statement(
      `UPDATE deliveries SET state = ${state('cancelled')}, updated_at = $1
      WHERE id = $2 AND ${movableBy('cancel')}`,
      'cancelDelivery',
    ),
    upsertTarget: statement(
      `INSERT INTO targets (target, disabled, reason, changed_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (target) DO UPDATE SET
        disabled = excluded.disabled,
        reason = excluded.reason,
        changed_at = excluded.changed_at`,
      'upsertTarget',
    ),
    insertAudit: statement('INSERT INTO audit_log (at, action, subject, details) VALUES ($1, $2, $3, $4)', 'insertAudit'),

    selectDelivery: statement(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = $1`, 'selectDelivery'),
    selectAttempts: statement(
      `SELECT delivery_id AS "deliveryId", number, started_at AS "startedAt", duration_ms AS "durationMs", succeeded,
        status_code AS "statusCode", error, response
      FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id`,
      'selectAttempts',
    ),
    countDeliveries: statement('SELECT state, COUNT(*) AS count FROM deliveries GROUP BY state', 'countDeliveries'),
    oldestDueAt: statement(
      `SELECT MIN(due_at) AS "dueAt" FROM deliveries WHERE ${movableBy('claim')} AND due_at <= $1`,
      'oldestDueAt',
    ),
    // By primary key, then one probe of deliveries_unfinished_by_ordering_group each: a page costs one statement.
    selectBehindTheirGroup: statement(
      `SELECT candidate.id FROM deliveries AS candidate
      WHERE ${dialect.inList('candidate.id', '$1', 'bigint')}
        AND candidate.ordering_key IS NOT NULL AND ${movableBy('claim', 'candidate.state')}
        AND ${BEHIND_ITS_GROUP}`,
      'selectBehindTheirGroup',
    ),
    // The deliveries' distinct targets one index probe each (a loose index scan), not a read of every delivery.
    selectTargets: statement(
      `WITH RECURSIVE delivered (target) AS (
        SELECT MIN(target) FROM deliveries
        UNION ALL
        SELECT (SELECT MIN(target) FROM deliveries WHERE target > delivered.target) FROM delivered WHERE delivered.target IS NOT NULL
      )
      SELECT known.target, targets.disabled, targets.reason, targets.changed_at AS "changedAt"
      FROM (SELECT target FROM delivered WHERE target IS NOT NULL UNION SELECT target FROM targets) AS known
      LEFT JOIN targets ON targets.target = known.target
      ORDER BY known.target`,
      'selectTargets',
    ),
    selectAudit: statement(
      'SELECT id, at, action, subject, details FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2',
      'selectAudit',
    ),
    ping: statement('SELECT 1 AS ok', 'ping'),
    // By arrival order, not MIN(received_at): the primary key answers it without a scan.
    oldestEvent: statement('SELECT received_at AS "receivedAt" FROM events ORDER BY seq LIMIT 1', 'oldestEvent'),
    probeWrite: statement(
      'UPDATE schema_migrations SET applied_at = applied_at WHERE version = (SELECT MAX(version) FROM schema_migrations)',
      'probeWrite',
    ),

    insertUsage: statement(
      `INSERT INTO usage_ledger (
        identifier, event_id, event_name, rule_id, action_index, customer, meter, quantity, unit, occurred_at,
        recorded_at
      ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      ON CONFLICT (identifier) DO NOTHING
      RETURNING id`,
      'insertUsage',
    ),
    selectUsageByIdentifier: statement(
      `SELECT ${USAGE_COLUMNS} FROM usage_ledger AS usage WHERE identifier = $1`,
      'selectUsageByIdentifier',
    ),
  };
}

export type Statements = ReturnType<typeof statements>;

/**
 * A completion's first half: the delivery moves on from running, if `owner` ($7) still holds its lease. Its values are
 * those of `completionValues`; complete, retry and die all start from running.
 */
export const FINISH_ATTEMPT = `
        UPDATE deliveries
        SET state = $1, attempts = $2, due_at = COALESCE($3, due_at), last_error = $4,
          lease_owner = NULL, lease_expires_at = NULL, updated_at = $5
        WHERE id = $6 AND ${movableBy('complete')} AND lease_owner = $7`;

/**
 * A completion's second half, the attempt's row: these columns, with the delivery's id before ATTEMPT_VALUES. Its
 * number is its place among all its delivery's attempts, counting on across replays (the attempt's own number, $2,
 * starts again at 1 with a replay's fresh attempts).
 */
export const INSERT_ATTEMPT = `
      INSERT INTO delivery_attempts (
        delivery_id, number, started_at, duration_ms, succeeded, status_code, error, response
      )`;
export const ATTEMPT_VALUES = '(SELECT COUNT(*) + 1 FROM delivery_attempts WHERE delivery_id = $6), $8, $9, $10, $11, $4, $12';
