/** Keyset pagination shared by the stores: pages run newest first by id, and a cursor is the last id handed out. */
import { SwitchboardError } from '../../errors.ts';
import type { Page } from '../store.ts';

export interface PageRequest {
  limit: number;
  cursor?: string;
}

/** Where a page starts: ids below `beforeId`, at most `limit` of them. */
export interface PageStart {
  beforeId: number;
  limit: number;
}

const CURSOR = /^[1-9][0-9]{0,15}$/;

/** Reads a page request, refusing a limit or cursor the store did not hand out. */
export function pageStart(page: PageRequest): PageStart {
  if (!Number.isSafeInteger(page.limit) || page.limit < 1) {
    throw invalidPage(`The page limit must be a whole number of at least 1, not ${page.limit}.`);
  }
  if (page.cursor === undefined) return { beforeId: Number.MAX_SAFE_INTEGER, limit: page.limit };
  const beforeId = Number(page.cursor);
  if (!CURSOR.test(page.cursor) || !Number.isSafeInteger(beforeId)) {
    throw invalidPage(`The cursor ${JSON.stringify(page.cursor)} is not one this list handed out; pass back nextCursor.`);
  }
  return { beforeId, limit: page.limit };
}

/** Turns up to limit + 1 rows, newest first, into a page: the extra row only says that another page follows. */
export function toPage<T extends { id: number }>(rows: T[], start: PageStart): Page<T> {
  return toPageBy(rows, start, (row) => row.id);
}

/** toPage for rows ordered by another `position` than their id; the cursor is the last row's position. */
export function toPageBy<T>(rows: T[], start: PageStart, position: (row: T) => number | string): Page<T> {
  const items = rows.slice(0, start.limit);
  const more = rows.length > start.limit;
  return { items, nextCursor: more ? String(position(items[items.length - 1])) : null };
}

function invalidPage(message: string): SwitchboardError {
  return new SwitchboardError('E_INVALID_REQUEST', message);
}
