/**
 * The SQLite schema as ordered, versioned steps: the shared steps, then its own. Times are ISO text of one length (so
 * they order as text), JSON is text and booleans are 0 or 1.
 */
import { DELIVERY_ACTION_KEY } from '../sql/delivery-action-key.ts';
import { eventTombstonesMigration } from '../sql/event-tombstones.ts';
import type { Migration } from '../sql/migration.ts';
import { livePictureMigration } from '../sql/live-picture.ts';
import { searchMigration } from '../sql/searches.ts';
import { COLUMN_TYPES, sharedMigrations } from '../sql/schema.ts';
import { targetLatencyMigration } from '../sql/target-latency.ts';

export const sqliteMigrations: readonly Migration[] = [
  ...sharedMigrations(COLUMN_TYPES.sqlite),
  {
    version: 6,
    name: 'slim_session_tables',
    // Every status change writes a session's current row and, when the status changes, a history row, in the ingest
    // transaction. In one b-tree keyed by (key, n), n = 0 the current row and 1, 2, … its history oldest first, the
    // two writes land on the same page (keys are spread at random over the tree: separate tables dirtied a page
    // each). `history` on the current row counts its history rows, so the next n needs no lookup.
    sql: `
      CREATE TABLE session_rows (
        key TEXT NOT NULL,
        n INTEGER NOT NULL,
        status TEXT NOT NULL,
        old_status TEXT,
        event_id TEXT NOT NULL,
        event_name TEXT,
        event_created_at INTEGER,
        event_seq INTEGER,
        at TEXT NOT NULL,
        history INTEGER,
        PRIMARY KEY (key, n)
      ) WITHOUT ROWID;
      INSERT INTO session_rows (key, n, status, event_id, event_created_at, event_seq, at, history)
        SELECT key, 0, status, event_id, event_created_at, event_seq, updated_at,
          (SELECT COUNT(*) FROM session_history AS history WHERE history.key = sessions.key)
        FROM sessions;
      INSERT INTO session_rows (key, n, status, old_status, event_id, event_name, event_created_at, at)
        SELECT key, ROW_NUMBER() OVER (PARTITION BY key ORDER BY id), status, old_status, event_id, event_name,
          event_created_at, at
        FROM session_history;
      DROP TABLE session_history;
      DROP TABLE sessions;
    `,
  },
  {
    version: 7,
    name: 'event_outcomes',
    // An event's outcome (matched rules, action results) is written at the end of its transaction. As an UPDATE of
    // the event's row it rewrote the whole row, body included; a narrow row of its own, keyed by the event's seq,
    // is appended instead. The events table's own matched/actions columns, left unused, go at version 8.
    sql: `
      CREATE TABLE event_outcomes (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        matched TEXT NOT NULL,
        actions TEXT NOT NULL
      );
      INSERT INTO event_outcomes (seq, matched, actions) SELECT seq, matched, actions FROM events;
    `,
  },
  {
    version: 8,
    name: 'drop_unused_event_columns',
    // Nothing has read the events table's matched/actions since version 7 moved outcomes to event_outcomes.
    sql: `
      ALTER TABLE events DROP COLUMN matched;
      ALTER TABLE events DROP COLUMN actions;
    `,
  },
  DELIVERY_ACTION_KEY,
  livePictureMigration(12, COLUMN_TYPES.sqlite),
  searchMigration(
    COLUMN_TYPES.sqlite,
    `CREATE INDEX session_rows_current ON session_rows (key) WHERE n = 0;
      CREATE INDEX session_rows_by_status ON session_rows (status, key) WHERE n = 0;`,
  ),
  {
    version: 14,
    name: 'usage_ledger_outlives_events',
    // The ledger is money, kept longer than the events it was counted from (RETENTION_USAGE, RETENTION_EVENTS): its
    // rows carry their own numbers and keep the event's id as a plain reference. SQLite drops a foreign key only by
    // rebuilding the table.
    sql: `
      CREATE TABLE usage_ledger_kept (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        identifier TEXT NOT NULL UNIQUE,
        event_id TEXT NOT NULL,
        event_name TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        action_index INTEGER NOT NULL,
        customer TEXT NOT NULL,
        meter TEXT NOT NULL,
        quantity INTEGER NOT NULL CHECK (quantity >= 0),
        unit TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL
      );
      INSERT INTO usage_ledger_kept SELECT id, identifier, event_id, event_name, rule_id, action_index, customer, meter,
        quantity, unit, occurred_at, recorded_at FROM usage_ledger;
      DROP TABLE usage_ledger;
      ALTER TABLE usage_ledger_kept RENAME TO usage_ledger;
      CREATE INDEX usage_ledger_by_customer ON usage_ledger (customer, occurred_at);
      CREATE INDEX usage_ledger_by_meter ON usage_ledger (meter, occurred_at);
      CREATE INDEX usage_ledger_by_time ON usage_ledger (occurred_at);
    `,
  },
  targetLatencyMigration(COLUMN_TYPES.sqlite),
  {
    version: 17,
    name: 'session_history_by_time',
    // Retention takes history rows oldest first (RETENTION_SESSIONS); without this each prune batch read and sorted
    // the whole table on the event loop. PostgreSQL's history is numbered as written and needs none.
    sql: `
      CREATE INDEX session_rows_history_by_time ON session_rows (at) WHERE n > 0;
    `,
  },
  // Keyed by the id alone: no rowid beside it.
  eventTombstonesMigration(COLUMN_TYPES.sqlite, { tableOptions: ' WITHOUT ROWID' }),
];
