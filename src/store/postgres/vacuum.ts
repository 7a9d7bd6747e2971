/**
 * After a prune run, a plain VACUUM (ANALYZE) of each table it deleted many rows from, so their space is reusable
 * within the run's interval rather than whenever autovacuum comes round (it may not, under a steady write load, for
 * many minutes). Never VACUUM FULL: nothing is rewritten or locked against ingest; the file keeps its size and reuses
 * the space.
 */
import type { Executor } from '../sql/dialect.ts';
import type { PrunedRows } from '../store.ts';

/**
 * Dead rows that call for a vacuum: 5% of the table, but at least one full batch (500) and at most 10,000; and at
 * most one vacuum of a table a minute (by the pruner or autovacuum), as autovacuum's own naptime: every vacuum reads
 * all of the table's indexes whatever the dead rows, and a short PRUNE_INTERVAL would otherwise vacuum each run.
 */
export const VACUUM_AT = { share: 0.05, fewest: 500, most: 10_000, spacingMs: 60_000 };

/** Whether a table with `live` rows, `dead` dead ones, last vacuumed `sinceVacuumMs` ago (or never: null), is due one. */
export function dueForVacuum(live: number, dead: number, sinceVacuumMs: number | null = null): boolean {
  if (sinceVacuumMs !== null && sinceVacuumMs < VACUUM_AT.spacingMs) return false;
  const threshold = Math.min(VACUUM_AT.most, Math.max(VACUUM_AT.fewest, VACUUM_AT.share * live));
  return dead >= threshold;
}

// The statistics lag the deletes by up to a few seconds (each backend sends its counts when idle): the run's own
// count stands in for the dead rows when it is the larger.
const DEAD_ROWS = `SELECT relname AS "table", n_live_tup AS live, n_dead_tup AS dead,
    EXTRACT(EPOCH FROM now() - GREATEST(last_vacuum, last_autovacuum)) * 1000 AS "sinceVacuumMs"
  FROM pg_stat_user_tables
  WHERE schemaname = current_schema() AND relname = ANY ($1::text[])`;

/**
 * Vacuums each table of `pruned` that is due; the tables vacuumed. `db` is one connection outside any transaction
 * (VACUUM refuses to run inside one). Paced as autovacuum is by default (a 2 ms pause per 200 units of page work): a
 * manual VACUUM otherwise runs unthrottled, and would take the disk from ingest's commits while it reads the table.
 */
export async function vacuumPruned(db: Executor, pruned: PrunedRows): Promise<string[]> {
  const tables = Object.keys(pruned).filter((table) => pruned[table] > 0);
  if (tables.length === 0) return [];
  const stats = await db.rows<{ table: string; live: number | string; dead: number | string; sinceVacuumMs: number | string | null }>(
    DEAD_ROWS,
    [tables],
  );
  const due = stats.filter((row) =>
    dueForVacuum(Number(row.live), Math.max(Number(row.dead), pruned[row.table]), row.sinceVacuumMs === null ? null : Number(row.sinceVacuumMs)),
  );
  if (due.length === 0) return [];
  await db.run(`SET vacuum_cost_delay = '2ms'`);
  try {
    for (const { table } of due) await db.run(`VACUUM (ANALYZE) "${table}"`);
  } finally {
    await db.run('RESET vacuum_cost_delay');
  }
  return due.map((row) => row.table);
}
