/**
 * The PostgreSQL schema as ordered, versioned steps (its own list: SQLite's differs where its storage does).
 * JSON columns are `json`, not `jsonb`: they are stored and read whole, and jsonb refuses the escaped NUL (\u0000)
 * that event data rendered into params or outcomes may carry.
 */
import type { Migration } from '../sql/migration.ts';

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'create_events',
    // The unique id is the dedupe key: a redelivery that lands on another replica meets it too.
    sql: `
      CREATE TABLE events (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        name text NOT NULL,
        created_at bigint,
        api_key text NOT NULL,
        body text NOT NULL,
        received_at timestamptz NOT NULL,
        matched json NOT NULL DEFAULT '[]',
        actions json NOT NULL DEFAULT '[]'
      );
    `,
  },
  {
    version: 2,
    name: 'create_sessions',
    sql: `
      CREATE TABLE sessions (
        key text PRIMARY KEY,
        status text NOT NULL,
        event_id text NOT NULL,
        event_created_at bigint,
        event_seq bigint NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE TABLE session_history (
        id bigserial PRIMARY KEY,
        key text NOT NULL REFERENCES sessions (key),
        status text NOT NULL,
        old_status text NOT NULL,
        event_id text NOT NULL,
        event_name text NOT NULL,
        event_created_at bigint,
        at timestamptz NOT NULL
      );
      CREATE INDEX session_history_by_key ON session_history (key, id);
    `,
  },
  {
    version: 3,
    name: 'create_deliveries',
    // The partial index lists UNFINISHED_STATES as they were at version 3; a test keeps them in step.
    sql: `
      CREATE TABLE deliveries (
        id bigserial PRIMARY KEY,
        event_id text NOT NULL REFERENCES events (id),
        event_seq bigint NOT NULL,
        event_name text NOT NULL,
        rule_id text NOT NULL,
        action_index integer NOT NULL,
        plugin text NOT NULL,
        params json NOT NULL,
        target text NOT NULL,
        ordering_key text,
        state text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        retry_schedule json NOT NULL,
        timeout_ms integer NOT NULL,
        due_at timestamptz NOT NULL,
        lease_owner text,
        lease_expires_at timestamptz,
        last_error json,
        trace_context json,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        UNIQUE (event_id, rule_id, action_index)
      );
      CREATE INDEX deliveries_due ON deliveries (state, due_at, id);
      CREATE INDEX deliveries_unfinished_by_ordering_group ON deliveries (rule_id, action_index, ordering_key, id)
        WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running', 'failed-waiting-retry');
      CREATE INDEX deliveries_by_state ON deliveries (state, id);
      CREATE INDEX deliveries_by_rule ON deliveries (rule_id, id);
      CREATE INDEX deliveries_by_target ON deliveries (target, id);

      CREATE TABLE delivery_attempts (
        id bigserial PRIMARY KEY,
        delivery_id bigint NOT NULL REFERENCES deliveries (id),
        number integer NOT NULL,
        started_at timestamptz NOT NULL,
        duration_ms integer NOT NULL,
        succeeded boolean NOT NULL,
        status_code integer,
        error json,
        response text
      );
      CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

      CREATE TABLE targets (
        target text PRIMARY KEY,
        disabled boolean NOT NULL,
        reason text,
        changed_at timestamptz NOT NULL
      );

      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        details json NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'create_usage_ledger',
    // The unique identifier keeps one row per usage, whichever replica records it.
    sql: `
      CREATE TABLE usage_ledger (
        id bigserial PRIMARY KEY,
        identifier text NOT NULL UNIQUE,
        event_id text NOT NULL REFERENCES events (id),
        event_name text NOT NULL,
        rule_id text NOT NULL,
        action_index integer NOT NULL,
        customer text NOT NULL,
        meter text NOT NULL,
        quantity bigint NOT NULL CHECK (quantity >= 0),
        unit text NOT NULL,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL
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
    // History rows need no foreign-key check against sessions, which are never deleted.
    sql: `
      ALTER TABLE session_history DROP CONSTRAINT IF EXISTS session_history_key_fkey;
    `,
  },
];

/**
 * Versions earlier releases applied that did nothing here: 7 mirrored a SQLite-only change. A database that has
 * them is not ahead of this release; the next migration takes version 8.
 */
export const postgresRetiredVersions: readonly number[] = [7];
