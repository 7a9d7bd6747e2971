/**
 * What retention removes, written once: a list of prune steps, each a kind of row that ages out, taken in small
 * batches. A batch finds its rows on committed data, then in one short transaction confirms them (still old enough,
 * still in a prunable state: a replay or a cancel may have moved them meanwhile), removes the rows that depend on
 * them, then them. A new table that ages out is one more entry in PRUNE_STEPS.
 */
import type { PruneBatchResult, PruneStepName, PrunedRows } from '../store.ts';
import type { Dialect, Executor } from './dialect.ts';
import { states } from './moves.ts';

/**
 * LiveKit's redelivery window: an event id is remembered at least this long, whatever RETENTION_EVENTS says. An event
 * pruned sooner leaves its id in event_tombstones until the window ends, and ingest takes a redelivery of it for a
 * duplicate (transaction.ts).
 */
export const DEDUPE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Which retention setting a step's cutoff comes from (the engine turns settings into cutoffs). */
export type RetentionKind = 'events' | 'dedupe' | 'dead' | 'sessions' | 'usage' | 'rollup';

interface PruneStep {
  name: PruneStepName;
  retention: RetentionKind;
  table: string;
  /** What its rows count as, in results and metrics, where not `table`. */
  label?: string;
  /** The expression naming one row, and its type when bound as a list. */
  key: string;
  keyIn(placeholder: string): string;
  /**
   * Where the key is a number that grows as rows are written: a column of that same order (an insert time), so that
   * a batch looks at a window of keys, never further, and stops at the first window reaching rows too young.
   */
  written?: string;
  /** The rows that age out, with the cutoff as $1. */
  where: string;
  order: string;
  /** Rows of other tables removed first, by the column holding this step's key. */
  dependents: Array<{ table: string; column: string }>;
  /** The key's type when dependents are found by it as a list (default bigint). */
  keyType?: 'text';
  /**
   * Writes what outlives the rows, before they go: (keys, start of the dedupe window) → the ids of the events among
   * them received inside the window, as tombstones.
   */
  outlived?: string;
}

const EVENT_WITHOUT_DELIVERIES = 'NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_id = events.id)';

/** The steps, in the order a run takes them: deliveries before the events they reference. */
function pruneSteps(dialect: Dialect): PruneStep[] {
  const { inList, lifecycle } = dialect;
  const numbered = (key: string, written: string) => ({ key, written, keyIn: (placeholder: string) => inList(key, placeholder, 'bigint') });
  const attempts = { table: 'delivery_attempts', column: 'delivery_id' };
  const outcomes = lifecycle.outcomeRow ? [lifecycle.outcomeRow] : [];
  // The per-minute rollup (the overview's counts, the targets' latency), a minute's rows at a time: its primary key
  // leads with the minute.
  const rollup = (table: 'minute_stats' | 'minute_latency'): PruneStep => ({
    name: table,
    retention: 'rollup',
    table,
    key: 'minute',
    keyIn: (placeholder) => inList('minute', placeholder, 'timestamptz'),
    where: 'minute < $1',
    order: 'minute',
    dependents: [],
  });
  // A delivery's age is that of its last change: one replayed yesterday is kept as long as one finished yesterday.
  const deliveries = (name: PruneStepName, retention: RetentionKind, finished: string): PruneStep => ({
    name,
    retention,
    table: 'deliveries',
    // updated_at is never before created_at: once a window reaches deliveries created after the cutoff, none later is old.
    ...numbered('id', 'created_at'),
    where: `state IN (${finished}) AND updated_at < $1`,
    order: 'id',
    dependents: [attempts],
  });
  return [
    deliveries('deliveries.finished', 'events', states(['succeeded', 'cancelled'])),
    deliveries('deliveries.dead', 'dead', states(['dead'])),
    // An event goes once no delivery needs it (an unfinished one runs from it, a dead one replays from it); its id
    // stays behind as a tombstone while LiveKit may still redeliver it.
    {
      name: 'events',
      retention: 'events',
      table: 'events',
      ...numbered('seq', 'received_at'),
      where: `received_at < $1 AND ${EVENT_WITHOUT_DELIVERIES}`,
      order: 'seq',
      dependents: outcomes,
      outlived: `INSERT INTO event_tombstones (id, received_at)
        SELECT id, received_at FROM events WHERE ${inList('seq', '$1', 'bigint')} AND received_at >= $2
        ON CONFLICT (id) DO NOTHING`,
    },
    {
      name: 'event_tombstones',
      retention: 'dedupe',
      table: 'event_tombstones',
      key: 'id',
      keyType: 'text',
      keyIn: (placeholder) => inList('id', placeholder, 'text'),
      where: 'received_at < $1',
      order: 'received_at',
      dependents: [],
    },
    { name: 'session_history', retention: 'sessions', ...lifecycle.sessionHistory, label: 'session_history', dependents: [] },
    {
      name: 'usage_ledger',
      retention: 'usage',
      table: 'usage_ledger',
      // Aged by when it was recorded, the order of its ids; when the usage happened is the event's clock.
      ...numbered('id', 'recorded_at'),
      where: 'recorded_at < $1',
      order: 'id',
      dependents: [],
    },
    // A finished room's picture (its participants, egress and ingress, and the start and end edges that made
    // each once) goes with the events it was drawn from. A room that never finished stays: reconciliation ends it.
    {
      name: 'rooms',
      retention: 'events',
      table: 'rooms',
      key: 'sid',
      keyType: 'text',
      keyIn: (placeholder) => inList('sid', placeholder, 'text'),
      where: `status = 'finished' AND finished_at < $1`,
      order: 'id',
      dependents: ['room_participants', 'room_streams', 'resource_edges'].map((table) => ({ table, column: 'room_sid' })),
    },
    rollup('minute_stats'),
    rollup('minute_latency'),
  ];
}

/** The step names, in the order a run takes them. */
export const PRUNE_STEP_NAMES: readonly PruneStepName[] = [
  'deliveries.finished',
  'deliveries.dead',
  'events',
  'event_tombstones',
  'session_history',
  'usage_ledger',
  'rooms',
  'minute_stats',
  'minute_latency',
];

/** Each step's retention setting, for the engine to give it a cutoff. */
export const PRUNE_STEP_RETENTION: Readonly<Record<PruneStepName, RetentionKind>> = {
  'deliveries.finished': 'events',
  'deliveries.dead': 'dead',
  events: 'events',
  event_tombstones: 'dedupe',
  session_history: 'sessions',
  usage_ledger: 'usage',
  rooms: 'events',
  minute_stats: 'rollup',
  minute_latency: 'rollup',
};

interface StepStatements {
  step: PruneStep;
  /**
   * (cutoff, limit) → up to limit keys of rows to prune, oldest first; for a numbered step (cutoff, limit, after)
   * → the window of `limit` keys after `after`, each with whether to prune it and whether it was written before
   * the cutoff.
   */
  find: string;
  /** (cutoff, keys) → those keys still prunable, locked. */
  confirm: string;
  /** LifecycleDialect.deferFlush. */
  deferFlush: string | null;
  /** (keys, start of the dedupe window) → what outlives the rows (PruneStep.outlived). */
  outlived: string | null;
  /** Per dependent table, then the step's own: (keys) → rows removed. */
  remove: Array<{ table: string; sql: string }>;
  /** (cutoff) → per table, how many rows a run would remove. */
  count: Array<{ table: string; sql: string }>;
}

/** A dialect's prune statements, built once. */
export function pruneStatements(dialect: Dialect): Map<PruneStepName, StepStatements> {
  const { statement } = dialect;
  const built = new Map<PruneStepName, StepStatements>();
  for (const step of pruneSteps(dialect)) {
    const { table, key, where, order } = step;
    const aging = `SELECT ${key} AS prune_key FROM ${table} WHERE ${where}`;
    const label = step.label ?? table;
    built.set(step.name, {
      step,
      find: statement(
        step.written === undefined
          ? `${aging} ORDER BY ${order} LIMIT $2`
          : `SELECT ${key} AS prune_key, CASE WHEN ${where} THEN 1 ELSE 0 END AS prunable,
            CASE WHEN ${step.written} < $1 THEN 1 ELSE 0 END AS written_before
          FROM ${table} WHERE ${key} > $3 ORDER BY ${key} LIMIT $2`,
      ) as string,
      confirm: statement(`${aging} AND ${step.keyIn('$2')}${dialect.lifecycle.lock}`) as string,
      deferFlush: dialect.lifecycle.deferFlush,
      outlived: step.outlived === undefined ? null : (statement(step.outlived) as string),
      remove: [
        ...step.dependents.map((dependent) => ({
          table: dependent.table,
          sql: statement(`DELETE FROM ${dependent.table} WHERE ${dialect.inList(dependent.column, '$1', step.keyType ?? 'bigint')}`) as string,
        })),
        { table: label, sql: statement(`DELETE FROM ${table} WHERE ${step.keyIn('$1')}`) as string },
      ],
      count: [
        ...step.dependents.map((dependent) => ({
          table: dependent.table,
          sql: statement(
            `SELECT COUNT(*) AS count FROM ${dependent.table} WHERE ${dependent.column} IN (${aging.replace(' AS prune_key', '')})`,
          ) as string,
        })),
        { table: label, sql: statement(`SELECT COUNT(*) AS count FROM ${table} WHERE ${where}`) as string },
      ],
    });
  }
  return built;
}

/** How a store runs a batch: finding on committed data, removing in a transaction of its own. */
export interface PruneAccess {
  read<T>(work: (db: Executor) => Promise<T>): Promise<T>;
  write<T>(work: (db: Executor) => Promise<T>): Promise<T>;
}

type Found = { prune_key: unknown; prunable?: unknown; written_before?: unknown };

/**
 * One batch of a step: what it finds of its rows older than `cutoff`, removed in one transaction.
 * A numbered step looks at the window of `limit` keys after `after` and no further, so a batch costs the same
 * however many rows are kept (young, still needed); `last` is where the next batch starts, null
 * once a window reached rows written after the cutoff or the end of the table. A step without a key order finds up
 * to `limit` rows (through an index in the order of its cutoff's column), and is done when a batch finds none.
 */
export async function pruneBatch(
  statements: StepStatements,
  access: PruneAccess,
  cutoff: Date,
  limit: number,
  after: number,
): Promise<PruneBatchResult> {
  const windowed = statements.step.written !== undefined;
  const found = await access.read((db) => db.rows<Found>(statements.find, windowed ? [cutoff, limit, after] : [cutoff, limit]));
  const chosen = windowed ? found.filter((row) => Number(row.prunable) === 1) : found;
  const end = found.at(-1);
  const more = windowed ? found.length === limit && Number(end!.written_before) === 1 : found.length > 0;
  const last = windowed && more ? Number(end!.prune_key) : null;
  if (chosen.length === 0) return { pruned: {}, last, done: !more, heldMs: 0 };
  let heldMs = 0;
  const pruned = await access.write(async (db) => {
    const started = performance.now();
    try {
      if (statements.deferFlush !== null) await db.run(statements.deferFlush);
      const confirmed = await db.rows<Found>(statements.confirm, [cutoff, chosen.map((row) => row.prune_key)]);
      const keys = confirmed.map((row) => row.prune_key);
      const counts: PrunedRows = {};
      if (keys.length === 0) return counts;
      // In the deletes' transaction: a redelivery's ingest sees the event or its tombstone, never neither. Rows all
      // older than the window (RETENTION_EVENTS at least as long) leave none.
      const windowStart = new Date(Date.now() - DEDUPE_WINDOW_MS);
      if (statements.outlived !== null && cutoff > windowStart) await db.run(statements.outlived, [keys, windowStart]);
      for (const { table, sql } of statements.remove) counts[table] = (counts[table] ?? 0) + (await db.run(sql, [keys]));
      return counts;
    } finally {
      heldMs = performance.now() - started;
    }
  });
  return { pruned, last, done: !more, heldMs };
}

/** What a run would remove now (a dry run): per table, the rows past `cutoff`. */
export async function countPrunable(statements: StepStatements, db: Executor, cutoff: Date): Promise<PrunedRows> {
  const counted: PrunedRows = {};
  for (const { table, sql } of statements.count) {
    const [row] = await db.rows<{ count: number | string }>(sql, [cutoff]);
    counted[table] = Number(row?.count ?? 0);
  }
  return counted;
}
