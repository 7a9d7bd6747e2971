/**
 * After a prune run, a plain VACUUM (ANALYZE) of each table it deleted many rows from, so their space is reusable
 * within the run's interval rather than whenever autovacuum comes round (it may not, under a steady write load, for
 * many minutes). Never VACUUM FULL: nothing is rewritten or locked against ingest; the file keeps its size and reuses
 * the space.
 */
import type { Executor } from '../sql/dialect.ts';
import type { PrunedRows } from '../store.ts';

/** Dead rows that call for a vacuum: 5% of the table, but at least one full batch (500) and at most 10,000. */
export const VACUUM_AT = { share: 0.05, fewest: 500, most: 10_000 };

/** Whether a table with `live` rows and `dead` dead ones since its last vacuum is due one. */
export function dueForVacuum(live: number, dead: number): boolean {
  const threshold = Math.min(VACUUM_AT.most, Math.max(VACUUM_AT.fewest, VACUUM_AT.share * live));
  return dead >= threshold;
}

// The statistics lag the deletes by up to a few seconds (each backend sends its counts when idle): the run's own
// count stands in for the dead rows when it is the larger.
const DEAD_ROWS = `SELECT relname AS "table", n_live_tup AS live, n_dead_tup AS dead FROM pg_stat_user_tables
  WHERE schemaname = current_schema() AND relname = ANY ($1::text[])`;

/**
 * Vacuums each table of `pruned` that is due; the tables vacuumed. `db` is one connection outside any transaction
 * (VACUUM refuses to run inside one). Paced as autovacuum is by default (a 2 ms pause per 200 units of page work): a
 * manual VACUUM otherwise runs unthrottled, and would take the disk from ingest's commits while it reads the table.
 */
export async function vacuumPruned(db: Executor, pruned: PrunedRows): Promise<string[]> {
  const tables = Object.keys(pruned).filter((table) => pruned[table] > 0);
  if (tables.length === 0) return [];
  const stats = await db.rows<{ table: string; live: number | string; dead: number | string }>(DEAD_ROWS, [tables]);
  const due = stats.filter((row) => dueForVacuum(Number(row.live), Math.max(Number(row.dead), pruned[row.table])));
  if (due.length === 0) return [];
  await db.run(`SET vacuum_cost_delay = '2ms'`);
  try {
    for (const { table } of due) await db.run(`VACUUM (ANALYZE) "${table}"`);
  } finally {
    await db.run('RESET vacuum_cost_delay');
  }
  return due.map((row) => row.table);
}
