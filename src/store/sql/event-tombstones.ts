/**
 * The ids of events pruned before LiveKit's redelivery window ended (retention.ts writes them with the deletes, ingest
 * reads them after its insert), so that the rows themselves can go at RETENTION_EVENTS.
 */
import type { Migration } from './migration.ts';
import type { ColumnTypes } from './schema.ts';

/** Version 18: the table, with what each dialect adds to it (`tableOptions` after its definition, `more` after it). */
export function eventTombstonesMigration(types: ColumnTypes, dialect: { tableOptions?: string; more?: string } = {}): Migration {
  return {
    version: 18,
    name: 'event_tombstones',
    sql: `
      CREATE TABLE event_tombstones (
        id ${types.text} PRIMARY KEY,
        received_at ${types.time} NOT NULL
      )${dialect.tableOptions ?? ''};
      CREATE INDEX event_tombstones_by_time ON event_tombstones (received_at);
      ${dialect.more ?? ''}
    `,
  };
}

