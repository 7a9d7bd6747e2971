/**
 * The SQLite dialect: `?n` placeholders, times as ISO text (one length, so they order as text), JSON as text,
 * booleans as 0/1, lists bound as JSON arrays. Writes are one at a time on one connection, so nothing is locked.
 */
import type { SQLInputValue } from 'node:sqlite';
import type { Dialect, Executor, SessionChange, Sql, StoredSession } from '../sql/dialect.ts';
import { ATTEMPT_VALUES, FINISH_ATTEMPT, HISTORY_COLUMNS, INSERT_ATTEMPT, SESSION_EVENT_UPDATE } from '../sql/statements.ts';
import type { Connection } from './connection.ts';

/** `$n` as SQLite's `?n`: the same numbered parameter. */
function numbered(text: string): string {
  return text.replace(/\$(\d+)/g, '?$1');
}

function bound(value: unknown): SQLInputValue {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (Array.isArray(value)) return JSON.stringify(value);
  return (value ?? null) as SQLInputValue;
}

/** Statements on `connection`, which prepares each text once. */
export function executor(connection: Connection): Executor {
  const bind = (values: readonly unknown[] = []) => values.map(bound);
  return {
    rows: async <Row>(sql: Sql, values?: readonly unknown[]) => connection.all<Row>(sql as string, ...bind(values)),
    run: async (sql: Sql, values?: readonly unknown[]) => Number(connection.run(sql as string, ...bind(values)).changes),
    insertedKey: async (sql: Sql, values?: readonly unknown[]) => {
      const { changes, lastInsertRowid } = connection.run(sql as string, ...bind(values));
      return Number(changes) === 0 ? null : Number(lastInsertRowid);
    },
  };
}

const FINISH = numbered(FINISH_ATTEMPT);
/** The attempt's row once its delivery has moved on; the unused parameters among the twelve stay unbound. */
const RECORD_ATTEMPT = numbered(`${INSERT_ATTEMPT} VALUES ($6, ${ATTEMPT_VALUES})`);

// A session's rows (see migration 6): n = 0 its current status, 1, 2, … its history, oldest first.
const SESSIONS = {
  current: numbered(`
    SELECT status, event_created_at AS "eventCreatedAt", event_seq AS "eventSeq", history
    FROM session_rows WHERE key = $1 AND n = 0`),
  upsert: numbered(`
    INSERT INTO session_rows (key, n, status, event_id, event_created_at, event_seq, at, history)
    VALUES ($1, 0, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (key, n) DO UPDATE SET ${SESSION_EVENT_UPDATE}, at = excluded.at, history = excluded.history`),
  insertHistory: numbered(`
    INSERT INTO session_rows (key, n, status, old_status, event_id, event_name, event_created_at, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`),
};

/**
 * Free pages kept for the writes to come (16 MiB): in a steady state each run frees about what the writes since
 * the last one need, and giving those back would only move pages to have the file grow again.
 */
const RESERVED_FREE_PAGES = 4_096;

async function freePages(db: Executor): Promise<number> {
  const [row] = await db.rows<{ freelist_count: number }>('PRAGMA freelist_count');
  return Number(row?.freelist_count ?? 0);
}

export const sqliteDialect: Dialect = {
  statement: (text) => numbered(text),
  typed: (placeholder) => placeholder,
  isTrue: (column) => `${column} = 1`,
  returningKey: () => '',
  writableCte: false,
  inList: (column, placeholder, _type, negated = false) =>
    `${column} ${negated ? 'NOT IN' : 'IN'} (SELECT value FROM json_each(${placeholder}))`,

  readDate: (value) => new Date(value as string),
  readJson: (value) => JSON.parse(value as string),
  readBool: (value) => value === 1,

  // INDEXED BY, because without statistics the planner prefers an index that makes it sort every due row.
  claimScan: (index) => ({ from: ` INDEXED BY ${index}`, lock: '' }),
  claimChosen: ({ due, expired, firstDue }) => ({
    before: '',
    from: '',
    where: `id IN (
      SELECT id FROM (
        SELECT id, due_at FROM (${due}
        )
        UNION ALL
        SELECT id, due_at FROM (${expired}
        )
        ${firstDue}
      )
    )`,
  }),

  async completeAttempt(db, values) {
    if ((await db.run(FINISH, values.slice(0, 7))) === 0) return false;
    await db.run(RECORD_ATTEMPT, values);
    return true;
  },

  // Transactions run one at a time on the writer: an ordering group has no other writer to wait for.
  lockOrderingGroup: async () => undefined,

  // The outcome has a row of its own (migration 7).
  outcomes: {
    save: numbered(`
      INSERT INTO event_outcomes (seq, matched, actions) SELECT seq, $1, $2 FROM events WHERE id = $3
      ON CONFLICT (seq) DO UPDATE SET matched = excluded.matched, actions = excluded.actions`),
    selectEvent: numbered(`
      SELECT event.seq, id, name, created_at AS "createdAt", api_key AS "apiKey", body, received_at AS "receivedAt",
        COALESCE(outcome.matched, '[]') AS matched, COALESCE(outcome.actions, '[]') AS actions
      FROM events AS event LEFT JOIN event_outcomes AS outcome ON outcome.seq = event.seq
      WHERE id = $1`),
  },

  lifecycle: {
    // One writer: nothing else can change the rows between the confirmation and the delete.
    lock: '',
    // A history row is (key, n): named as a JSON pair, found through the primary key.
    sessionHistory: {
      table: 'session_rows',
      key: 'json_array(key, n)',
      keyIn: (placeholder) => `(key, n) IN (SELECT value ->> 0, value ->> 1 FROM json_each(${placeholder}))`,
      where: 'n > 0 AND at < $1',
      order: 'at',
    },
    deferFlush: null,
    outcomeRow: { table: 'event_outcomes', column: 'seq' },
    // On a file created with auto_vacuum = INCREMENTAL (store.ts) free pages past the reserve go back to the file
    // system a step at a time; in an older file SQLite reuses them, and the vacuum frees none.
    // A step moves up to `pages` pages from the end of the file into free ones, each rewritten in its transaction.
    async reclaim(db, pages) {
      const free = await freePages(db);
      const excess = free - RESERVED_FREE_PAGES;
      if (excess <= 0) return false;
      await db.rows(`PRAGMA incremental_vacuum(${Math.min(excess, pages)})`);
      return excess > pages && (await freePages(db)) < free;
    },
  },

  sessions: {
    async current(db, key) {
      const [row] = await db.rows<StoredSession>(SESSIONS.current, [key]);
      return row ?? null;
    },
    /** `history` on the current row counts its history rows, so the next row's n needs no lookup. */
    async save(db, { key, transition, event, current, at }: SessionChange) {
      const changed = transition.new_status !== transition.old_status;
      const history = (current?.history ?? 0) + (changed ? 1 : 0);
      await db.run(SESSIONS.upsert, [key, transition.new_status, event.id, event.createdAt, event.seq, at, history]);
      if (!changed) return;
      const row = [key, history, transition.new_status, transition.old_status, event.id, event.name, event.createdAt, at];
      await db.run(SESSIONS.insertHistory, row);
    },
    selectSession: numbered(
      'SELECT key, status, at AS "updatedAt", event_id AS "eventId" FROM session_rows WHERE key = $1 AND n = 0',
    ),
    selectHistory: numbered(
      `SELECT ${HISTORY_COLUMNS} FROM session_rows WHERE key = $1 AND n > 0 ORDER BY n DESC LIMIT $2`,
    ),
    currentRows: '(SELECT key, status, event_id, at AS updated_at FROM session_rows WHERE n = 0) AS sessions',
  },
};
