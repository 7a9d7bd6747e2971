/**
 * The dashboard's and admin API's searches over recorded events and sessions. Each reads one page through an index
 * (events by room, participant, type or time; sessions by status and key), never the whole table.
 */
import { SwitchboardError } from '../../errors.ts';
import type { EventSearch, EventSummary, Page, SessionSummary } from '../store.ts';
import { eventConditions } from './conditions.ts';
import type { Dialect, Executor } from './dialect.ts';
import { pageStart, toPageBy, type PageRequest } from './page.ts';

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
