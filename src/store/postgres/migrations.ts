/**
 * The PostgreSQL schema as ordered, versioned steps: the shared steps, then its own. JSON columns are `json`, not
 * `jsonb`: they are stored and read whole, and jsonb refuses the escaped NUL (\u0000) that event data rendered into
 * params or outcomes may carry.
 */
import { DELIVERY_ACTION_KEY } from '../sql/delivery-action-key.ts';
import type { Migration } from '../sql/migration.ts';
import { livePictureMigration } from '../sql/live-picture.ts';
import { searchMigration } from '../sql/searches.ts';
import { COLUMN_TYPES, sharedMigrations } from '../sql/schema.ts';
import { targetLatencyMigration } from '../sql/target-latency.ts';
import { eventTombstonesMigration } from '../sql/event-tombstones.ts';
import { INGEST_FUNCTION_MIGRATION, ingestFunction, TRANSITIONS_IN_INGEST_MIGRATION } from './ingest-function.ts';

export const postgresMigrations: readonly Migration[] = [
  ...sharedMigrations(COLUMN_TYPES.postgres),
  {
    version: 6,
    name: 'slim_session_tables',
    // History rows need no foreign-key check against sessions, which are never deleted.
    sql: `
      ALTER TABLE session_history DROP CONSTRAINT IF EXISTS session_history_key_fkey;
    `,
  },
  DELIVERY_ACTION_KEY,
  livePictureMigration(12, COLUMN_TYPES.postgres),
  searchMigration(COLUMN_TYPES.postgres, 'CREATE INDEX sessions_by_status ON sessions (status, key);'),
  {
    version: 14,
    name: 'usage_ledger_outlives_events',
    // The ledger is money, kept longer than the events it was counted from (RETENTION_USAGE, RETENTION_EVENTS): its
    // rows carry their own numbers and keep the event's id as a plain reference.
    sql: `
      ALTER TABLE usage_ledger DROP CONSTRAINT IF EXISTS usage_ledger_event_id_fkey;
    `,
  },
  targetLatencyMigration(COLUMN_TYPES.postgres),
  INGEST_FUNCTION_MIGRATION,
  eventTombstonesMigration(COLUMN_TYPES.postgres, {
    // The tables retention deletes from most are vacuumed by autovacuum at 5% dead rows, not 20%: the pruner vacuums
    // them itself after large runs (vacuum.ts), and this covers the replicas' other dead rows (a delivery's every
    // move updates its row) and the runs under its threshold, before their dead rows slow the scans.
    more: `${['events', 'event_tombstones', 'deliveries', 'delivery_attempts', 'session_history']
      .map((table) => `ALTER TABLE ${table} SET (autovacuum_vacuum_scale_factor = 0.05);`)
      .join('\n      ')}
      ${ingestFunction(18)}`,
  }),
  TRANSITIONS_IN_INGEST_MIGRATION,
];

/**
 * Versions earlier releases applied that did nothing here: 7 mirrored a SQLite-only change. A database that has
 * them is not ahead of this release; the next migration takes version 8.
 */
export const postgresRetiredVersions: readonly number[] = [7];
