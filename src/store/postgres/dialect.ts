/**
 * The PostgreSQL dialect: `$n` placeholders, timestamptz, json and boolean columns the driver decodes, lists bound as
 * arrays. Replicas write side by side, so a claim locks its candidates (SKIP LOCKED) and the writers of one session
 * or ordering group take turns on a row lock or an advisory lock.
 */
import pg from 'pg';
import type { Dialect, Executor, SessionChange, Sql, StoredSession } from '../sql/dialect.ts';
import { ATTEMPT_VALUES, FINISH_ATTEMPT, HISTORY_COLUMNS, INSERT_ATTEMPT, SESSION_EVENT_UPDATE } from '../sql/statements.ts';
import { query } from './connection.ts';
import { FINISHED_CHANNEL } from './group-wakeups.ts';

/** Prepared once per connection, under its name. */
function prepared(name: string, text: string): Sql {
  return { name: `switchboard_${name}`, text };
}

/**
 * Statements on a pool or a checked-out client; `display` names the database in messages, `roundTrip` is called for
 * each statement sent.
 */
export function executor(on: pg.Pool | pg.PoolClient, display: string, roundTrip: () => void): Executor {
  const send = (sql: Sql, values: readonly unknown[] = []) => {
    roundTrip();
    return query(on, display, sql, [...values]);
  };
  return {
    rows: async <Row>(sql: Sql, values?: readonly unknown[]) => (await send(sql, values)).rows as Row[],
    run: async (sql, values) => (await send(sql, values)).rowCount ?? 0,
    insertedKey: async (sql, values) => {
      const [row] = (await send(sql, values)).rows as Record<string, unknown>[];
      return row === undefined ? null : Number(Object.values(row)[0]);
    },
  };
}

// One statement, so that a completion needing nothing else is one round trip, with no BEGIN and COMMIT
// (docs/decisions/0005-postgres-completion-one-statement.md). A delivery of an ordering group that it finishes
// (succeeded or dead) wakes the other replicas at commit when the group has a next one waiting (group-wakeups.ts):
// only then, so that a finish with nothing behind it sets no replica claiming. It answers a row when it recorded the
// attempt, saying whether such a next is waiting. $7 is the owner.
const COMPLETE_ATTEMPT = prepared(
  'completeAttempt',
  `
      WITH finished AS (${FINISH_ATTEMPT}
        RETURNING id, ordering_key IS NOT NULL AND state <> 'failed-waiting-retry' AND EXISTS (
            SELECT 1 FROM deliveries AS next
            WHERE next.rule_id = deliveries.rule_id AND next.action_index = deliveries.action_index
              AND next.ordering_key = deliveries.ordering_key AND next.id <> deliveries.id
              AND next.state IN ('pending', 'failed-waiting-retry')
          ) AS next_waiting
      ), woken AS (
        SELECT pg_notify('${FINISHED_CHANNEL}', $7) FROM finished WHERE next_waiting
      )${INSERT_ATTEMPT}
      SELECT id, ${ATTEMPT_VALUES} FROM finished
      RETURNING EXISTS (SELECT FROM woken) AS "nextWaiting"`,
);

/** The completion's one statement: whether it recorded the attempt, and whether the group it freed has a next waiting. */
export async function completeAttemptSeeingNext(db: Executor, values: readonly unknown[]): Promise<{ recorded: boolean; nextWaiting: boolean }> {
  const [row] = await db.rows<{ nextWaiting: boolean }>(COMPLETE_ATTEMPT, values);
  return { recorded: row !== undefined, nextWaiting: row?.nextWaiting === true };
}

// Held until commit: deliveries of one ordering group are written one transaction at a time, so their ids
// follow their commits and no claim can see a later one while an earlier one is still being written.
const LOCK_ORDERING_GROUP = prepared(
  'lockOrderingGroup',
  `SELECT pg_advisory_xact_lock(hashtextextended('switchboard.ordering:' || $1, 0))`,
);

const SESSIONS = {
  lock: prepared(
    'lockSession',
    `SELECT status, event_created_at AS "eventCreatedAt", event_seq AS "eventSeq"
    FROM sessions WHERE key = $1
    FOR UPDATE`,
  ),
  // Before a session's first transition there is no row to lock: its key is locked instead, until commit.
  lockNew: prepared('lockNewSession', `SELECT pg_advisory_xact_lock(hashtextextended('switchboard.session:' || $1, 0))`),
  upsert: prepared(
    'upsertSession',
    `INSERT INTO sessions (key, status, event_id, event_created_at, event_seq, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (key) DO UPDATE SET ${SESSION_EVENT_UPDATE}, updated_at = excluded.updated_at`,
  ),
  insertHistory: prepared(
    'insertHistory',
    `INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  ),
};

export const postgresDialect: Dialect = {
  statement: (text, name) => (name === undefined ? text : prepared(name, text)),
  typed: (placeholder, type) => `${placeholder}::${type}`,
  isTrue: (column) => column,
  returningKey: (column) => `RETURNING ${column}`,
  writableCte: true,
  inList: (column, placeholder, type, negated = false) =>
    negated ? `${column} <> ALL (${placeholder}::${type}[])` : `${column} = ANY (${placeholder}::${type}[])`,

  // The driver decodes timestamptz, json and boolean columns itself.
  readDate: (value) => value as Date,
  readJson: <T>(value: unknown) => value as T,
  readBool: (value) => value === true,

  // SKIP LOCKED: a replica passes over rows another is claiming, and a row claimed since this statement began fails
  // the re-check of its state and lease. A later delivery of a group waits while an earlier one is unfinished: the
  // earlier is pending or running whether or not another replica's claim of it has committed, so a group is never
  // claimed twice at once.
  claimScan: () => ({ from: '', lock: '\n          FOR UPDATE OF candidate SKIP LOCKED' }),
  // Never prepared, planned afresh at each call: a plan cached while the tables were nearly empty checks each
  // candidate against every unfinished delivery, not through the ordering-group index
  // (docs/decisions/0004-postgres-claim-planned-per-call.md).
  claimChosen: ({ due, expired, firstDue }) => ({
    before: `
    WITH due AS (${due}
    ), expired AS (${expired}
    ), chosen AS (
      SELECT id AS chosen_id FROM (SELECT id, due_at FROM due UNION ALL SELECT id, due_at FROM expired) AS both_kinds
      ${firstDue}
    )`,
    from: '\n    FROM chosen',
    where: 'deliveries.id = chosen.chosen_id',
  }),

  completeAttempt: async (db, values) => (await completeAttemptSeeingNext(db, values)).recorded,

  async lockOrderingGroup(db, group) {
    await db.run(LOCK_ORDERING_GROUP, [group]);
  },

  outcomes: {
    save: prepared('saveOutcome', 'UPDATE events SET matched = $1, actions = $2 WHERE id = $3'),
    selectEvent: prepared(
      'selectEvent',
      `SELECT seq, id, name, created_at AS "createdAt", api_key AS "apiKey", body, received_at AS "receivedAt",
        matched, actions
      FROM events WHERE id = $1`,
    ),
  },

  lifecycle: {
    // A delivery being replayed or cancelled meanwhile is left for the next batch, which sees its new state.
    lock: '\n      FOR UPDATE SKIP LOCKED',
    sessionHistory: {
      table: 'session_history',
      key: 'id',
      keyIn: (placeholder) => `id = ANY (${placeholder}::bigint[])`,
      where: 'at < $1',
      order: 'id',
      // Numbered as written: a batch looks at a window of ids, never the whole table for the few old rows.
      written: 'at',
    },
    deferFlush: 'SET LOCAL synchronous_commit = off',
    outcomeRow: null,
    // Autovacuum makes the deleted rows' space reusable; the tables are never rewritten.
    reclaim: async () => false,
  },

  sessions: {
    /**
     * Locks the session's row or, before its first transition, its key, so that concurrent transitions of one
     * session take turns and each decides on the status the one before it committed.
     */
    async current(db, key) {
      const [locked] = await db.rows<StoredSession>(SESSIONS.lock, [key]);
      if (locked) return locked;
      await db.run(SESSIONS.lockNew, [key]);
      // Whoever held the key may have created the row meanwhile.
      const [created] = await db.rows<StoredSession>(SESSIONS.lock, [key]);
      return created ?? null;
    },
    async save(db, { key, transition, event, at }: SessionChange) {
      await db.run(SESSIONS.upsert, [key, transition.new_status, event.id, event.createdAt, event.seq, at]);
      if (transition.new_status === transition.old_status) return;
      const row = [key, transition.new_status, transition.old_status, event.id, event.name, event.createdAt, at];
      await db.run(SESSIONS.insertHistory, row);
    },
    selectSession: prepared(
      'selectSession',
      'SELECT key, status, updated_at AS "updatedAt", event_id AS "eventId" FROM sessions WHERE key = $1',
    ),
    selectHistory: prepared(
      'selectHistory',
      `SELECT ${HISTORY_COLUMNS} FROM session_history WHERE key = $1 ORDER BY id DESC LIMIT $2`,
    ),
    currentRows: 'sessions',
  },
};
