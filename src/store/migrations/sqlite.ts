/** The SQLite schema as ordered, versioned steps; the PostgreSQL schema mirrors each version. */
import type { Migration } from './migration.ts';

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
];
