/**
 * The rollup's per-target latency histograms (minute_latency): a row per minute, target and bucket, added to by each
 * replica's flush, and read back summed over a range of minutes through the primary key, never the attempts.
 */
import type { LatencyCount } from '../store.ts';
import type { Dialect, Executor } from './dialect.ts';
import type { Migration } from './migration.ts';
import type { ColumnTypes } from './schema.ts';

/** Adds attempts to the histograms in one statement (the rollup's rows are one per minute, target and bucket). */
export async function addLatencyCounts(db: Executor, dialect: Dialect, counts: readonly LatencyCount[]): Promise<void> {
  if (counts.length === 0) return;
  const values = counts.flatMap((count) => [count.minute, count.target, count.leMs, count.count]);
  const rows = counts.map((_, index) => `($${index * 4 + 1}, $${index * 4 + 2}, $${index * 4 + 3}, $${index * 4 + 4})`).join(', ');
  await db.run(
    dialect.statement(`INSERT INTO minute_latency (minute, target, le_ms, count) VALUES ${rows}
      ON CONFLICT (minute, target, le_ms) DO UPDATE SET count = minute_latency.count + excluded.count`),
    values,
  );
}

/** Each target's buckets summed over the minutes of the range. */
export async function sumLatencies(
  db: Executor,
  dialect: Dialect,
  range: { from: Date; to: Date },
): Promise<Array<Omit<LatencyCount, 'minute'>>> {
  const rows = await db.rows<{ target: string; leMs: number; count: number | string }>(
    dialect.statement(
      `SELECT target, le_ms AS "leMs", SUM(count) AS count FROM minute_latency
      WHERE minute >= $1 AND minute < $2
      GROUP BY target, le_ms ORDER BY target, le_ms`,
      'sumLatencies',
    ),
    [range.from, range.to],
  );
  return rows.map((row) => ({ target: row.target, leMs: Number(row.leMs), count: Number(row.count) }));
}

/**
 * Version 15: `minute_latency`, the rollup's per-target latency histograms (a bucket named by its upper bound in ms);
 * and the attempts of deliveries replayed before it numbered again in the order they ran, since a replay's attempts
 * used to start again at 1.
 */
export function targetLatencyMigration({ text, time, integer, bigint }: ColumnTypes): Migration {
  return {
    version: 15,
    name: 'target_latency_and_attempt_numbers',
    sql: `
      CREATE TABLE minute_latency (
        minute ${time} NOT NULL,
        target ${text} NOT NULL,
        le_ms ${integer} NOT NULL,
        count ${bigint} NOT NULL,
        PRIMARY KEY (minute, target, le_ms)
      );
      UPDATE delivery_attempts SET number = (
        SELECT COUNT(*) FROM delivery_attempts AS earlier
        WHERE earlier.delivery_id = delivery_attempts.delivery_id AND earlier.id <= delivery_attempts.id
      )
      WHERE delivery_id IN (SELECT delivery_id FROM delivery_attempts GROUP BY delivery_id HAVING COUNT(*) > MAX(number));
    `,
  };
}
