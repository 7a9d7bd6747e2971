/**
 * `npm run bench:retention`: does retention keep the disk flat without hurting ingest? Every event forwarded, 200/s
 * in 20 s segments, per store with pruning off, then on (RETENTION_* 2m, PRUNE_INTERVAL=5s): the size after each
 * segment, each segment's ingest p99, each table's size at the end. `--backlog N` first fills each store with N
 * events received 40 days ago (test/helpers/backlog.ts), the catch-up an upgrade starts with. `--rounds N` runs both
 * settings N times in turns (off on, on off, …), so that the machine's drift and its stalls fall on both alike.
 * Flags: --db both|sqlite|postgres (SWITCHBOARD_TEST_PG_URL) --minutes <m> (10) --pruning both|on|off --backlog <n>
 * --rounds <n> (1).
 */
import { existsSync, statSync } from 'node:fs';
import { durationMs } from '../src/duration.ts';
import { openStore } from '../src/store/open.ts';
import { fillBacklog } from '../test/helpers/backlog.ts';
import { writeForwardingRule } from './delivery-run.ts';
import { readFlags } from './flags.ts';
import { fixedRateRuns } from './load.ts';
import { describeRun, formatMs, formatNumber, markdownTable, median } from './report.ts';
import { freshDatabase, PG_URL, prepareRun, query, ROOT, startCountingReceiver, startSwitchboard, type Database, type FreshDatabase } from './setup.ts';
import { roomScopedEvents } from './webhook-events.ts';

const RATE = 200;
const SEGMENT_SECONDS = 20;
const WARMUP_SECONDS = 5;
const RETENTION = '2m';
const PRUNE_INTERVAL = '5s';
const BACKLOG_AGE = '40d';
const mib = (bytes: number) => formatNumber(bytes / 2 ** 20, 1);

const flags = readFlags(['db', 'minutes', 'pruning', 'backlog', 'rounds']);
const db = flags.choice('db', ['both', 'sqlite', 'postgres']);
const databases: Database[] = db === 'both' ? ['sqlite', 'postgres'] : [db];
const pruning = flags.choice('pruning', ['both', 'on', 'off']);
const prunings = pruning === 'both' ? [false, true] : [pruning === 'on'];
const segments = Math.max(1, Math.round((flags.number('minutes', 10) * 60) / SEGMENT_SECONDS));
const backlog = (flags.text('backlog') ?? '0') === '0' ? 0 : flags.number('backlog', 1, true);
const rounds = flags.number('rounds', 1, true);
const { workDir, credentials } = prepareRun('retention');

/** `at`: seconds since the load began; `freeBytes`: of `bytes`, what the database holds free for reuse (SQLite). */
type Sample = { at: number; bytes: number; freeBytes: number | null; p99: number; failed: number };
/** `tables`: bytes by table (with its indexes), once the run has ended. */
type Run = { db: Database; pruning: boolean; round: number; samples: Sample[]; tables: Record<string, number> };

const receiver = await startCountingReceiver();
const rulesDir = writeForwardingRule(workDir, receiver.url, 'none');
const runs: Run[] = [];
console.log(describeRun('bench:retention'));
console.log(
  `Setup: one rule forwards every event (http, async) to a counting receiver; ${RATE} events/s open loop for ` +
    `${segments} × ${SEGMENT_SECONDS} s; pruning runs with RETENTION_EVENTS, RETENTION_SESSIONS and RETENTION_DEAD ` +
    `${RETENTION}, PRUNE_INTERVAL=${PRUNE_INTERVAL}; the runs without pruning set PRUNE_INTERVAL=0` +
    (backlog > 0 ? `; each store starts with a backlog of ${formatNumber(backlog)} events received ${BACKLOG_AGE} ago.` : '.'),
);
for (const db of databases) {
  for (let round = 1; round <= rounds; round++) {
    for (const pruning of round % 2 === 1 ? prunings : prunings.toReversed()) {
      console.log(`${db}, pruning ${pruning ? 'on' : 'off'}${rounds > 1 ? `, round ${round}` : ''}…`);
      runs.push({ db, pruning, round, ...(await measure(db, pruning)) });
    }
  }
}
await receiver.stop();
report();

async function measure(db: Database, pruning: boolean): Promise<Omit<Run, 'db' | 'pruning' | 'round'>> {
  const database = await freshDatabase(db, workDir);
  if (backlog > 0) {
    const started = performance.now();
    const store = await openStore(database.url);
    await store.migrate();
    await store.close();
    await fillBacklog(db === 'sqlite' ? { sqlite: database.file } : { postgres: { url: PG_URL, schema: database.schema } }, { events: backlog, ageMs: durationMs(BACKLOG_AGE) });
    console.log(`  backlog of ${formatNumber(backlog)} events written in ${formatNumber((performance.now() - started) / 1000, 1)} s: ${(await storeSize(database)).detail}`);
  }
  const env: Record<string, string> = pruning
    ? { RETENTION_EVENTS: RETENTION, RETENTION_SESSIONS: RETENTION, RETENTION_DEAD: RETENTION, PRUNE_INTERVAL }
    : { PRUNE_INTERVAL: '0' };
  const server = await startSwitchboard(ROOT, { credentials, rulesDir, databaseUrl: database.url, env });
  const traffic = fixedRateRuns(server, RATE, roomScopedEvents(), credentials);
  const samples: Sample[] = [];
  try {
    // A warm-up, not measured: connections opened, statements prepared, the first pages of every table written.
    await traffic.run(WARMUP_SECONDS);
    for (let at = SEGMENT_SECONDS; samples.length < segments; at += SEGMENT_SECONDS) {
      const load = await traffic.run(SEGMENT_SECONDS);
      const { detail, ...size } = await storeSize(database);
      samples.push({ at, ...size, p99: load.latency.p99, failed: load.non2xx + load.errors });
      console.log(`  ${at} s: ${detail}, ingest p99 ${formatMs(load.latency.p99)} ms, ${load.non2xx + load.errors} failed`);
    }
    traffic.close();
    await server.stop();
    return { samples, tables: await tableSizes(database) };
  } finally {
    traffic.close();
    await server.stop();
    await database.drop();
  }
}

/** Bytes by table, indexes (and TOAST) included. On SQLite dbstat reads every page: once, at the end of a run. */
async function tableSizes(database: FreshDatabase): Promise<Record<string, number>> {
  const rows = await query(database, database.db === 'sqlite'
    ? `SELECT schema.tbl_name AS name, SUM(stat.pgsize) AS bytes FROM dbstat AS stat
        JOIN sqlite_schema AS schema ON schema.name = stat.name GROUP BY schema.tbl_name`
    : `SELECT c.relname AS name, pg_total_relation_size(c.oid)::bigint AS bytes FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${database.schema}' AND c.relkind = 'r'`);
  return Object.fromEntries(rows.map((row) => [String(row.name), Number(row.bytes)]));
}

/** SQLite: the file and its WAL, with the free pages in it; PostgreSQL: the tables. `detail`: the parts, to print. */
async function storeSize(database: FreshDatabase): Promise<{ bytes: number; freeBytes: number | null; detail: string }> {
  if (database.db === 'postgres') {
    const bytes = Object.values(await tableSizes(database)).reduce((sum, table) => sum + table, 0);
    const [{ dead }] = await query(database, `SELECT SUM(n_dead_tup) AS dead FROM pg_stat_user_tables WHERE schemaname = '${database.schema}'`);
    return { bytes, freeBytes: null, detail: `${mib(bytes)} MiB (${formatNumber(Number(dead))} dead rows awaiting autovacuum)` };
  }
  const [file, wal] = [database.file, `${database.file}-wal`].map((path) => (existsSync(path) ? statSync(path).size : 0));
  const [{ freelist_count: freePages }] = await query(database, 'PRAGMA freelist_count');
  const [{ page_size: pageSize }] = await query(database, 'PRAGMA page_size');
  const freeBytes = Number(freePages) * Number(pageSize);
  return { bytes: file + wal, freeBytes, detail: `${mib(file + wal)} MiB (file ${mib(file)} MiB of which free ${mib(freeBytes)} MiB, WAL ${mib(wal)} MiB)` };
}

function report(): void {
  const label = (run: Run) => `${run.db} ${run.pruning ? 'pruning' : 'no pruning'}${rounds > 1 ? ` #${run.round}` : ''}`;
  const table = (title: string, rows: string[][]) => console.log(`\n### ${title}\n\n${markdownTable(rows)}`);
  const perSegment = (title: string, cell: (sample: Sample) => string) =>
    table(title, [['s', ...runs.map(label)], ...runs[0].samples.map(({ at }, i) => [String(at), ...runs.map((run) => cell(run.samples[i]))])]);
  perSegment('Database size over time (MiB; SQLite: of which free pages, kept for reuse)', (sample) =>
    `${mib(sample.bytes)}${sample.freeBytes === null ? '' : ` (${mib(sample.freeBytes)} free)`}`);
  perSegment('Ingest p99 per segment (ms)', (sample) => formatMs(sample.p99));
  // Pruning has work from its first run over a backlog, otherwise once the first events are past the retention.
  const busyFrom = ((backlog > 0 ? 0 : durationMs(RETENTION)) + durationMs(PRUNE_INTERVAL)) / 1000;
  const busyP99s = (run: Run) => run.samples.filter((sample) => sample.at - SEGMENT_SECONDS >= busyFrom).map((sample) => sample.p99);
  table('Ingest p99 (ms): median and worst segment, over the whole run and once pruning has work', [
    ['store', 'pruning', 'round', 'p99 median', 'p99 worst', 'p99 median once pruning', 'size at half time MiB', 'size at end MiB', 'failed'],
    ...runs.map((run) => {
      const p99s = run.samples.map((sample) => sample.p99);
      const busy = busyP99s(run);
      return [run.db, run.pruning ? 'on' : 'off', String(run.round), formatMs(median(p99s)), formatMs(Math.max(...p99s)), busy.length === 0 ? '–' : formatMs(median(busy)),
        mib(run.samples[Math.floor(run.samples.length / 2)].bytes), mib(run.samples.at(-1)!.bytes), String(run.samples.reduce((sum, sample) => sum + sample.failed, 0))];
    }),
  ]);
  if (prunings.length === 2) {
    // Every segment once pruning has work, of every round: the rounds' drift falls on both settings alike.
    const pooled = (db: Database, pruning: boolean) => median(runs.filter((run) => run.db === db && run.pruning === pruning).flatMap(busyP99s));
    table(`Ingest p99 once pruning has work, median of the segments of ${rounds} round${rounds > 1 ? 's' : ''} (ms)`, [
      ['store', 'no pruning', 'pruning', 'change'],
      ...databases.map((db) => {
        const [off, on] = [pooled(db, false), pooled(db, true)];
        return [db, formatMs(off), formatMs(on), `${on >= off ? '+' : '−'}${formatNumber((100 * Math.abs(on - off)) / off)}%`];
      }),
    ]);
  }
  const tables = [...new Set(runs.flatMap((run) => Object.keys(run.tables)))].sort();
  table('Size by table at the end (MiB, with its indexes)',
    [['table', ...runs.map(label)], ...tables.map((name) => [name, ...runs.map((run) => (name in run.tables ? mib(run.tables[name]) : '–'))])]);
}
