/** The SQLite schema as ordered, versioned steps (its own list: PostgreSQL's differs where its storage does). */
import type { Migration } from '../sql/migration.ts';

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_events',
    sql: `
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at INTEGER,
        api_key TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at TEXT NOT NULL,
        matched TEXT NOT NULL DEFAULT '[]',
        actions TEXT NOT NULL DEFAULT '[]'
      );
    `,
  },
  {
    version: 2,
    name: 'create_sessions',
    sql: `
      CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_created_at INTEGER,
        event_seq INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE session_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL REFERENCES sessions (key),
        status TEXT NOT NULL,
        old_status TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_name TEXT NOT NULL,
        event_created_at INTEGER,
        at TEXT NOT NULL
      );
      CREATE INDEX session_history_by_key ON session_history (key, id);
    `,
  },
  {
    version: 3,
    name: 'create_deliveries',
    // The partial index lists UNFINISHED_STATES as they were at version 3; a test keeps the two in step. Were they
    // to drift, the ordering check would scan more rows but still answer correctly.
    sql: `
      CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL REFERENCES events (id),
        event_seq INTEGER NOT NULL,
        event_name TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        action_index INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        params TEXT NOT NULL,
        target TEXT NOT NULL,
        ordering_key TEXT,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        retry_schedule TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_expires_at TEXT,
        last_error TEXT,
        trace_context TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (event_id, rule_id, action_index)
      );
      CREATE INDEX deliveries_due ON deliveries (state, due_at, id);
      CREATE INDEX deliveries_unfinished_by_ordering_group ON deliveries (rule_id, action_index, ordering_key, id)
        WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running', 'failed-waiting-retry');
      CREATE INDEX deliveries_by_state ON deliveries (state, id);
      CREATE INDEX deliveries_by_rule ON deliveries (rule_id, id);
      CREATE INDEX deliveries_by_target ON deliveries (target, id);

      CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
        number INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        duration_ms INTEGER NOT NULL,
        succeeded INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        response TEXT
      );
      CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

      CREATE TABLE targets (
        target TEXT PRIMARY KEY,
        disabled INTEGER NOT NULL,
        reason TEXT,
        changed_at TEXT NOT NULL
      );

      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'create_usage_ledger',
    // The unique identifier is what makes usage exact: a redelivery, retry, replay or crash never adds a second row.
    sql: `
      CREATE TABLE usage_ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        identifier TEXT NOT NULL UNIQUE,
        event_id TEXT NOT NULL REFERENCES events (id),
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
      CREATE INDEX usage_ledger_by_customer ON usage_ledger (customer, occurred_at);
      CREATE INDEX usage_ledger_by_meter ON usage_ledger (meter, occurred_at);
      CREATE INDEX usage_ledger_by_time ON usage_ledger (occurred_at);
    `,
  },
  {
    version: 5,
    name: 'index_claimable_deliveries',
    // The claim scans due deliveries in (due_at, id) order and stops at its limit; one range per index keeps it so.
    // It replaces the (state, due_at) index, whose two ranges needed a sort of every due row.
    sql: `
      DROP INDEX deliveries_due;
      CREATE INDEX deliveries_claimable ON deliveries (due_at, id) WHERE state IN ('pending', 'failed-waiting-retry');
      CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE state = 'running';
    `,
  },
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
];
