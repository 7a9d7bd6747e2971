/**
 * The schema steps both dialects take alike (versions 1 to 5), written once in each dialect's column types. Each
 * dialect's list (sqlite/migrations.ts, postgres/migrations.ts) starts with them and goes on with its own.
 */
import type { Migration } from './migration.ts';

/** The column types the shared steps are written in. */
export interface ColumnTypes {
  /** The primary key of a table whose rows are numbered as they are inserted. */
  serial: string;
  text: string;
  integer: string;
  /** A whole number that may pass 2^31. */
  bigint: string;
  time: string;
  json: string;
  boolean: string;
}

/** Each dialect's types: SQLite keeps times as ISO text of one length (so they order as text), JSON as text, booleans as 0/1. */
export const COLUMN_TYPES = {
  sqlite: {
    serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
    text: 'TEXT',
    integer: 'INTEGER',
    bigint: 'INTEGER',
    time: 'TEXT',
    json: 'TEXT',
    boolean: 'INTEGER',
  },
  postgres: {
    serial: 'bigserial PRIMARY KEY',
    text: 'text',
    integer: 'integer',
    bigint: 'bigint',
    time: 'timestamptz',
    json: 'json',
    boolean: 'boolean',
  },
} satisfies Record<string, ColumnTypes>;

export function sharedMigrations(types: ColumnTypes): Migration[] {
  const { serial, text, integer, bigint, time, json, boolean } = types;
  return [
    {
      version: 1,
      name: 'create_events',
      // The unique id is the dedupe key: a redelivery, even one that lands on another replica, meets it.
      sql: `
        CREATE TABLE events (
          seq ${serial},
          id ${text} NOT NULL UNIQUE,
          name ${text} NOT NULL,
          created_at ${bigint},
          api_key ${text} NOT NULL,
          body ${text} NOT NULL,
          received_at ${time} NOT NULL,
          matched ${json} NOT NULL DEFAULT '[]',
          actions ${json} NOT NULL DEFAULT '[]'
        );
      `,
    },
    {
      version: 2,
      name: 'create_sessions',
      sql: `
        CREATE TABLE sessions (
          key ${text} PRIMARY KEY,
          status ${text} NOT NULL,
          event_id ${text} NOT NULL,
          event_created_at ${bigint},
          event_seq ${bigint} NOT NULL,
          updated_at ${time} NOT NULL
        );
        CREATE TABLE session_history (
          id ${serial},
          key ${text} NOT NULL REFERENCES sessions (key),
          status ${text} NOT NULL,
          old_status ${text} NOT NULL,
          event_id ${text} NOT NULL,
          event_name ${text} NOT NULL,
          event_created_at ${bigint},
          at ${time} NOT NULL
        );
        CREATE INDEX session_history_by_key ON session_history (key, id);
      `,
    },
    {
      version: 3,
      name: 'create_deliveries',
      // The partial index lists UNFINISHED_STATES as they were at version 3; a test keeps the two in step. Were they
      // to drift, the ordering check would scan more rows but still answer correctly.
      // The partial index lists UNFINISHED_STATES as they were at version 3; a test keeps them in step.
      sql: `
        CREATE TABLE deliveries (
          id ${serial},
          event_id ${text} NOT NULL REFERENCES events (id),
          event_seq ${bigint} NOT NULL,
          event_name ${text} NOT NULL,
          rule_id ${text} NOT NULL,
          action_index ${integer} NOT NULL,
          plugin ${text} NOT NULL,
          params ${json} NOT NULL,
          target ${text} NOT NULL,
          ordering_key ${text},
          state ${text} NOT NULL,
          attempts ${integer} NOT NULL DEFAULT 0,
          max_attempts ${integer} NOT NULL,
          retry_schedule ${json} NOT NULL,
          timeout_ms ${integer} NOT NULL,
          due_at ${time} NOT NULL,
          lease_owner ${text},
          lease_expires_at ${time},
          last_error ${json},
          trace_context ${json},
          created_at ${time} NOT NULL,
          updated_at ${time} NOT NULL,
          UNIQUE (event_id, rule_id, action_index)
        );
        CREATE INDEX deliveries_due ON deliveries (state, due_at, id);
        CREATE INDEX deliveries_unfinished_by_ordering_group ON deliveries (rule_id, action_index, ordering_key, id)
          WHERE ordering_key IS NOT NULL AND state IN ('pending', 'running', 'failed-waiting-retry');
        CREATE INDEX deliveries_by_state ON deliveries (state, id);
        CREATE INDEX deliveries_by_rule ON deliveries (rule_id, id);
        CREATE INDEX deliveries_by_target ON deliveries (target, id);

        CREATE TABLE delivery_attempts (
          id ${serial},
          delivery_id ${bigint} NOT NULL REFERENCES deliveries (id),
          number ${integer} NOT NULL,
          started_at ${time} NOT NULL,
          duration_ms ${integer} NOT NULL,
          succeeded ${boolean} NOT NULL,
          status_code ${integer},
          error ${json},
          response ${text}
        );
        CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

        CREATE TABLE targets (
          target ${text} PRIMARY KEY,
          disabled ${boolean} NOT NULL,
          reason ${text},
          changed_at ${time} NOT NULL
        );

        CREATE TABLE audit_log (
          id ${serial},
          at ${time} NOT NULL,
          action ${text} NOT NULL,
          subject ${text} NOT NULL,
          details ${json} NOT NULL
        );
      `,
    },
    {
      version: 4,
      name: 'create_usage_ledger',
      // The unique identifier is what makes usage exact: a redelivery, retry, replay or crash, on any replica, never
      // adds a second row.
      sql: `
        CREATE TABLE usage_ledger (
          id ${serial},
          identifier ${text} NOT NULL UNIQUE,
          event_id ${text} NOT NULL REFERENCES events (id),
          event_name ${text} NOT NULL,
          rule_id ${text} NOT NULL,
          action_index ${integer} NOT NULL,
          customer ${text} NOT NULL,
          meter ${text} NOT NULL,
          quantity ${bigint} NOT NULL CHECK (quantity >= 0),
          unit ${text} NOT NULL,
          occurred_at ${time} NOT NULL,
          recorded_at ${time} NOT NULL
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
  ];
}

/** The statements that keep the record of applied migrations, in a dialect's types and placeholders. */
export function migrationRecord(types: ColumnTypes, statement: (text: string) => string) {
  return {
    create: `
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version ${types.integer} PRIMARY KEY,
      name ${types.text} NOT NULL,
      applied_at ${types.time} NOT NULL
    )`,
    appliedVersions: 'SELECT version FROM schema_migrations ORDER BY version',
    record: statement('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)'),
  };
}
