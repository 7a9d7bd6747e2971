/**
 * The pruner catching up over a large backlog (an upgrade onto a store that kept everything, or a lowered
 * RETENTION_EVENTS), on each store: many small transactions, none over its row bound, ingest let in between them,
 * every statement through an index; on SQLite the pages it frees reused, and those past the reserve given back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RetentionSettings } from '../../../src/config.ts';
import { pruneCutoffs } from '../../../src/engine/retention/cutoffs.ts';
import { pruneOnce } from '../../../src/engine/retention/pruner.ts';
import { pruneStatements } from '../../../src/store/sql/retention.ts';
import { postgresDialect } from '../../../src/store/postgres/dialect.ts';
import { PostgresStore } from '../../../src/store/postgres/store.ts';
import { sqliteDialect } from '../../../src/store/sqlite/dialect.ts';
import { SqliteStore } from '../../../src/store/sqlite/store.ts';
import type { Store } from '../../../src/store/store.ts';
import { fillBacklog, type BacklogTarget } from '../../helpers/backlog.ts';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, TEST_PG_URL } from '../../helpers/postgres.ts';
import { eventRecord } from '../../store/store-contract.ts';

const DAY = 24 * 60 * 60 * 1000;
/** Everything in a backlog received 40 days ago goes, sessions' history included. */
const RETENTION: RetentionSettings = { eventsMs: 7 * DAY, deadMs: 90 * DAY, sessionsMs: 30 * DAY, usageMs: 0 };
const BACKLOG = { events: 1_000, ageMs: 40 * DAY };
/** A catch-up is many batches, each waiting for the commits and checkpoints behind it. */
const CATCH_UP_TIMEOUT_MS = 60_000;
const BATCH_ROWS = 50;

/** Every `metrics.pruned` call of a run: one per table a batch removed rows from. */
function recordingMetrics(onBatch: (table: string, rows: number) => void = () => undefined) {
  const calls: Array<{ table: string; rows: number }> = [];
  return {
    calls,
    metrics: {
      pruned(table: string, rows: number) {
        calls.push({ table, rows });
        onBatch(table, rows);
      },
      pruneRan: () => undefined,
    },
  };
}

interface Backend {
  /** A migrated store over a backlog, and how to close and remove both. */
  open(): Promise<{ store: Store; target: BacklogTarget; cleanup(): Promise<void> }>;
  /** Whether writes queue behind the pruner's (SQLite's one writer). */
  oneWriter: boolean;
}

function describeCatchUp(name: string, backend: Backend): void {
  describe(`${name}: a catch-up over a backlog`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    async function storeWithBacklog(): Promise<Store> {
      const opened = await backend.open();
      cleanup = opened.cleanup;
      return opened.store;
    }

    it('takes the backlog in many transactions, none over its row bound', async () => {
      const store = await storeWithBacklog();
      const { calls, metrics } = recordingMetrics();
      const pruned = await pruneOnce({ store, retention: RETENTION, metrics, batchRows: BATCH_ROWS }, () => false);
      expect(pruned).toEqual({
        delivery_attempts: BACKLOG.events,
        deliveries: BACKLOG.events,
        events: BACKLOG.events,
        session_history: BACKLOG.events,
        ...(backend.oneWriter && { event_outcomes: BACKLOG.events }),
      });
      // One attempt per delivery: no table gives more rows to a batch than the batch takes of its step's own.
      for (const call of calls) expect(call.rows).toBeLessThanOrEqual(BATCH_ROWS);
      for (const table of ['deliveries', 'events', 'session_history']) {
        expect(calls.filter((call) => call.table === table).length).toBeGreaterThanOrEqual(BACKLOG.events / BATCH_ROWS);
      }
    }, CATCH_UP_TIMEOUT_MS);

    it('lets a webhook in during the catch-up: it is committed before the catch-up ends', async () => {
      const store = await storeWithBacklog();
      let batches = 0;
      let ended = false;
      let webhook: Promise<{ batchesBefore: number; batchesAtCommit: number; endedAtCommit: boolean }> | undefined;
      const { metrics } = recordingMetrics((table) => {
        if (table !== 'deliveries') return;
        batches += 1;
        if (batches !== 2) return;
        const batchesBefore = batches;
        webhook = store
          .transaction((tx) => tx.recordEvent(eventRecord('EV_during_catch_up', { receivedAt: new Date() })))
          .then(() => ({ batchesBefore, batchesAtCommit: batches, endedAtCommit: ended }));
      });
      await pruneOnce({ store, retention: RETENTION, metrics, batchRows: BATCH_ROWS }, () => false);
      ended = true;
      const { batchesBefore, batchesAtCommit, endedAtCommit } = await webhook!;
      expect(endedAtCommit).toBe(false);
      expect(batchesAtCommit).toBeLessThan(BACKLOG.events / BATCH_ROWS);
      // Behind one writer, the webhook queued during a batch commits before the next batch begins.
      if (backend.oneWriter) expect(batchesAtCommit).toBe(batchesBefore);
      expect(await store.getEvent('EV_during_catch_up')).not.toBeNull();
    }, CATCH_UP_TIMEOUT_MS);
  });
}

/** Every statement of every prune step, with values to plan it with (a cutoff, a limit, a list of keys). */
function pruneStatementTexts(dialect: typeof sqliteDialect): Array<{ step: string; sql: string; values: unknown[] }> {
  const text = (sql: unknown) => (typeof sql === 'string' ? sql : (sql as { text: string }).text);
  const cutoff = new Date();
  return [...pruneStatements(dialect)].flatMap(([step, statements]) => {
    // The rollup's rows are named by their minute, the others by a number.
    const keys = statements.step.retention === 'rollup' ? [cutoff, cutoff] : [1, 2];
    return [
    { step, sql: text(statements.find), values: statements.step.written ? [cutoff, 500, 0] : [cutoff, 500] },
    { step, sql: text(statements.confirm), values: [cutoff, keys] },
    ...statements.remove.map((remove) => ({ step, sql: text(remove.sql), values: [keys] })),
    ];
  });
}

/** Every batch of every step, without pausing or giving space back. */
async function pruneSteps(store: Store): Promise<void> {
  for (const { step, cutoff } of pruneCutoffs(RETENTION, new Date())) {
    let after = 0;
    for (;;) {
      const batch = await store.pruneBatch(step, cutoff, 500, after);
      if (batch.done) break;
      after = batch.last ?? after;
    }
  }
}

describe('SQLite', () => {
  const directories: string[] = [];
  afterEach(async () => {
    await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function freshFile(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-catch-up-'));
    directories.push(dir);
    return join(dir, 'switchboard.db');
  }

  async function migrated(file: string): Promise<void> {
    const store = new SqliteStore(file);
    await store.migrate();
    await store.close();
  }

  /**
   * Pages a backlog added to the file, and then, after a catch-up removed it (giving back what it may), the pages
   * a backlog as large added to the file as it was after that first backlog.
   */
  async function refillAfterCatchUp(file: string): Promise<{ first: number; refill: number }> {
    const empty = pragma(file, 'page_count');
    await fillBacklog({ sqlite: file }, BACKLOG);
    const filled = pragma(file, 'page_count');
    const store = new SqliteStore(file);
    try {
      await pruneOnce({ store, retention: RETENTION, metrics: recordingMetrics().metrics }, () => false);
      expect(await store.reclaimSpace(256)).toBe(false);
    } finally {
      await store.close();
    }
    expect(pragma(file, 'freelist_count')).toBeGreaterThan((filled - empty) / 2);
    await fillBacklog({ sqlite: file }, { ...BACKLOG, first: BACKLOG.events + 1 });
    return { first: filled - empty, refill: pragma(file, 'page_count') - filled };
  }

  function pragma(file: string, name: string): number {
    const db = new DatabaseSync(file);
    try {
      return Number(Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0]);
    } finally {
      db.close();
    }
  }

  describeCatchUp('SQLite', {
    oneWriter: true,
    async open() {
      const file = await freshFile();
      await migrated(file);
      await fillBacklog({ sqlite: file }, BACKLOG);
      const store = new SqliteStore(file);
      return { store, target: { sqlite: file }, cleanup: () => store.close() };
    },
  });

  it('finds the rows of every prune statement through an index, never a scan of a table or a sort', async () => {
    const file = await freshFile();
    await migrated(file);
    const db = new DatabaseSync(file);
    try {
      for (const { step, sql } of pruneStatementTexts(sqliteDialect)) {
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((row) => String(row.detail));
        expect({ step, sql, plan: plan.filter((line) => /^SCAN (?!json_each)|TEMP B-TREE/.test(line)) }).toEqual({ step, sql, plan: [] });
      }
    } finally {
      db.close();
    }
  });

  it('reuses the pages a catch-up freed: writing as much again barely grows the file', async () => {
    const file = await freshFile();
    await migrated(file);
    const growth = await refillAfterCatchUp(file);
    // What does grow: the sessions' current rows, which are kept.
    expect(growth.refill).toBeLessThan(growth.first / 10);
  });

  it('gives the free pages past its reserve back to the file system, a bounded step per transaction', async () => {
    const file = await freshFile();
    await migrated(file);
    // About 8,000 pages, far more than the 4,096 free pages kept for the writes to come.
    await fillBacklog({ sqlite: file }, { events: 20_000, ageMs: BACKLOG.ageMs });
    const store = new SqliteStore(file);
    try {
      await pruneSteps(store);
      const pagesBefore = pragma(file, 'page_count');
      let free = pragma(file, 'freelist_count');
      expect(free).toBeGreaterThan(4_096 + 10 * 256);
      let steps = 0;
      while (await store.reclaimSpace(256)) {
        const left = pragma(file, 'freelist_count');
        expect(free - left).toBeGreaterThan(0);
        expect(free - left).toBeLessThanOrEqual(256);
        free = left;
        steps += 1;
      }
      expect(steps).toBeGreaterThan(10);
      expect(pragma(file, 'freelist_count')).toBeLessThanOrEqual(4_096);
      expect(await store.reclaimSpace(256)).toBe(false);
      await store.close();
      expect(pragma(file, 'page_count')).toBeLessThan(pagesBefore - steps * 200);
    } finally {
      await store.close();
    }
  });

  it('keeps reusing free pages in a file made before incremental vacuum, and has nothing to give back', async () => {
    const file = await freshFile();
    const older = new DatabaseSync(file);
    older.exec('CREATE TABLE made_before (x INTEGER)');
    older.close();
    await migrated(file);
    expect(pragma(file, 'auto_vacuum')).toBe(0);
    const growth = await refillAfterCatchUp(file);
    expect(growth.refill).toBeLessThan(growth.first / 10);
  });
});

describe.skipIf(SKIP_POSTGRES)('PostgreSQL', () => {
  beforeAll(requirePostgres);

  describeCatchUp('PostgreSQL', {
    oneWriter: false,
    async open() {
      const schema = await createTestSchema();
      const store = new PostgresStore(schema.url);
      await store.migrate();
      const target = { postgres: { url: TEST_PG_URL, schema: schema.name } };
      await fillBacklog(target, BACKLOG);
      return {
        store,
        target,
        async cleanup() {
          await store.close();
          await schema.drop();
        },
      };
    },
  });

  it('has an index for every prune statement: none needs a sequential scan or a sort', async () => {
    const schema = await createTestSchema();
    const store = new PostgresStore(schema.url);
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    try {
      await store.migrate();
      await client.connect();
      await client.query(`SET search_path TO ${schema.name}`);
      // Where an index can serve, the planner takes it; a plan that still scans has none to take.
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_sort = off');
      for (const { step, sql, values } of pruneStatementTexts(postgresDialect)) {
        const plan = (await client.query(`EXPLAIN ${sql}`, values)).rows.map((row) => String(row['QUERY PLAN']));
        expect({ step, sql, plan: plan.filter((line) => /Seq Scan|Sort/.test(line)) }).toEqual({ step, sql, plan: [] });
      }
    } finally {
      await client.end();
      await store.close();
      await schema.drop();
    }
  });
});
