/**
 * The dashboard's and admin API's searches over recorded events and sessions. Each reads one page through an index
 * (events by room, participant, type or time; sessions by status and key), never the whole table.
 */
import { SwitchboardError } from '../../errors.ts';
import type { EventSearch, EventSummary, MinuteStat, Page, SessionSummary } from '../store.ts';
import { eventConditions } from './conditions.ts';
import type { Dialect, Executor } from './dialect.ts';
import { pageStart, toPageBy, type PageRequest } from './page.ts';
import type { Migration } from './migration.ts';
import type { ColumnTypes } from './schema.ts';

const EVENT_SUMMARY_COLUMNS = `seq, id, name, created_at AS "createdAt", received_at AS "receivedAt", room, participant`;

/** Events matching the search, newest first (by arrival order); the cursor is the last seq handed out. */
export async function searchEvents(db: Executor, dialect: Dialect, search: EventSearch, page: PageRequest): Promise<Page<EventSummary>> {
  const start = pageStart(page);
  const values: unknown[] = [];
  const where = [...eventConditions(search, values), `seq < $${values.length + 1}`].join(' AND ');
  const rows = await db.rows<EventSummary & { receivedAt: unknown }>(
    dialect.statement(`SELECT ${EVENT_SUMMARY_COLUMNS} FROM events WHERE ${where} ORDER BY seq DESC LIMIT $${values.length + 2}`),
    [...values, start.beforeId, start.limit + 1],
  );
  return toPageBy(
    rows.map((row) => ({ ...row, receivedAt: dialect.readDate(row.receivedAt) })),
    start,
    (event) => event.seq,
  );
}

/** Sessions in key order, of one status when given; the cursor is the last key handed out. */
export async function listSessions(
  db: Executor,
  dialect: Dialect,
  filter: { status?: string },
  page: PageRequest,
): Promise<Page<SessionSummary>> {
  const start = pageStart({ limit: page.limit });
  if (page.cursor === '') throw new SwitchboardError('E_INVALID_REQUEST', 'The cursor is empty; pass back nextCursor.');
  const values: unknown[] = [];
  const conditions: string[] = [];
  if (filter.status !== undefined) {
    values.push(filter.status);
    conditions.push(`status = $${values.length}`);
  }
  if (page.cursor !== undefined) {
    values.push(page.cursor);
    conditions.push(`key > $${values.length}`);
  }
  const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
  const rows = await db.rows<SessionSummary & { updatedAt: unknown }>(
    dialect.statement(
      `SELECT key, status, event_id AS "eventId", updated_at AS "updatedAt" FROM ${dialect.sessions.currentRows}
      ${where} ORDER BY key LIMIT $${values.length + 1}`,
    ),
    [...values, start.limit + 1],
  );
  return toPageBy(
    rows.map((row) => ({ ...row, updatedAt: dialect.readDate(row.updatedAt) })),
    start,
    (session) => session.key,
  );
}

/** The rollup's counts in a range of minutes, through its primary key (minute, name). */
export async function listMinuteStats(db: Executor, dialect: Dialect, range: { from: Date; to: Date }): Promise<MinuteStat[]> {
  const rows = await db.rows<{ minute: unknown; name: string; count: number }>(
    dialect.statement('SELECT minute, name, count FROM minute_stats WHERE minute >= $1 AND minute < $2 ORDER BY minute, name', 'listMinuteStats'),
    [range.from, range.to],
  );
  return rows.map((row) => ({ minute: dialect.readDate(row.minute), name: row.name, count: Number(row.count) }));
}

/** Adds counts to the rollup in one statement: a row per minute and name, added to by every replica. */
export async function addMinuteStats(db: Executor, dialect: Dialect, stats: readonly MinuteStat[]): Promise<void> {
  if (stats.length === 0) return;
  const values = stats.flatMap((stat) => [stat.minute, stat.name, stat.count]);
  const rows = stats.map((_, index) => `($${index * 3 + 1}, $${index * 3 + 2}, $${index * 3 + 3})`).join(', ');
  await db.run(
    dialect.statement(`INSERT INTO minute_stats (minute, name, count) VALUES ${rows}
      ON CONFLICT (minute, name) DO UPDATE SET count = minute_stats.count + excluded.count`),
    values,
  );
}

/**
 * Version 13: the indexes the dashboard's and the admin API's lists page through with millions of rows (events by
 * room, participant identity, type or time; room and participant filled at insert from the parsed event; deliveries
 * by time), and `minute_stats`, the per-minute rollup the overview draws (counts added by each replica's flush).
 * Events recorded before have no room or participant. The sessions' indexes follow each dialect's session tables.
 */
export function searchMigration(types: ColumnTypes, sessionIndexes: string): Migration {
  const { text, time, bigint } = types;
  return {
    version: 13,
    name: 'search_indexes_and_minute_stats',
    sql: `
      ALTER TABLE events ADD COLUMN room ${text};
      ALTER TABLE events ADD COLUMN participant ${text};
      CREATE INDEX events_by_room ON events (room, seq) WHERE room IS NOT NULL;
      CREATE INDEX events_by_participant ON events (participant, seq) WHERE participant IS NOT NULL;
      CREATE INDEX events_by_name ON events (name, seq);
      CREATE INDEX events_by_time ON events (received_at);
      CREATE INDEX deliveries_by_time ON deliveries (created_at);
      CREATE TABLE minute_stats (
        minute ${time} NOT NULL,
        name ${text} NOT NULL,
        count ${bigint} NOT NULL,
        PRIMARY KEY (minute, name)
      );
      ${sessionIndexes}
    `,
  };
}
