/**
 * `npm run bench:retention`: does retention keep the disk flat without hurting ingest? Switchboard forwards every
 * event (one async http rule, to a counting receiver) at a steady rate, twice per store: once with the pruner off,
 * once with short retention (RETENTION_EVENTS, RETENTION_SESSIONS and RETENTION_DEAD all --retention, and
 * PRUNE_INTERVAL). It reports the database's size over time (SQLite: with its free pages and WAL), the ingest p99
 * of each segment side by side, and at the end the size of each table. --backlog N first fills each store with N
 * events received --backlog-age ago, with their deliveries, attempts and session history (test/helpers/backlog.ts):
 * the catch-up an upgrade onto a store that kept everything, or a lowered RETENTION_EVENTS, starts with. Tokens live
 * five minutes, so the load is sent in segments, each signed just before it. Flags: --db sqlite|postgres|both
 * --rate <events/s> --minutes <m> --segment <s> --retention <duration> --prune-interval <duration>
 * --pruning both|on|off --backlog <events> --backlog-age <duration> --pg-url <url>.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { postgresQuery, roomScopedEvents, signBeforeRun, type Database } from './delivery-run.ts';
import { durationMs } from '../src/duration.ts';
import { PostgresStore } from '../src/store/postgres/store.ts';
import { SqliteStore } from '../src/store/sqlite/store.ts';
import { fillBacklog } from '../test/helpers/backlog.ts';
import { positiveNumber } from './flags.ts';
import { KeepAliveClient } from './keep-alive-client.ts';
import { runAtFixedRate } from './load.ts';
import { startCountingReceiver, type CountingReceiver } from './receiver.ts';
import { describeRun, formatNumber, markdownTable, median } from './report.ts';
import { startServerProcess, switchboardEnvironment } from './server-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const WARMUP_SECONDS = 5;

const { values: flags } = parseArgs({
  options: {
    db: { type: 'string', default: 'both' },
    rate: { type: 'string', default: '200' },
    minutes: { type: 'string', default: '10' },
    segment: { type: 'string', default: '20' },
    retention: { type: 'string', default: '2m' },
    'prune-interval': { type: 'string', default: '5s' },
    pruning: { type: 'string', default: 'both' },
    backlog: { type: 'string', default: '0' },
    'backlog-age': { type: 'string', default: '40d' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const prunings = { both: [false, true], on: [true], off: [false] }[flags.pruning!];
if (!prunings) throw new Error(`--pruning is "${flags.pruning}": expected both, on or off`);
const databases: Database[] = flags.db === 'both' ? ['sqlite', 'postgres'] : [flags.db as Database];
if (!databases.every((db) => db === 'sqlite' || db === 'postgres')) throw new Error(`--db is "${flags.db}": expected sqlite, postgres or both`);
const rate = positiveNumber('--rate', flags.rate!);
const minutes = positiveNumber('--minutes', flags.minutes!);
const segmentSeconds = positiveNumber('--segment', flags.segment!);
const segments = Math.max(1, Math.round((minutes * 60) / segmentSeconds));
const backlog = flags.backlog === '0' ? 0 : positiveNumber('--backlog', flags.backlog!);
const backlogAgeMs = durationMs(flags['backlog-age']!);
const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-retention-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));

interface Sample {
  /** Seconds since the load began. */
  at: number;
  bytes: number;
  /** Of `bytes`, what the database holds free for reuse (SQLite's free pages). */
  freeBytes: number | null;
  p99: number;
  sent: number;
  failed: number;
}

interface Run {
  db: Database;
  pruning: boolean;
  samples: Sample[];
  /** Bytes by table (with its indexes), once the run has ended. */
  tables: Record<string, number>;
}

const receiver = await startCountingReceiver();
const runs: Run[] = [];
console.log(describeRun('bench:retention'));
console.log(
  `Setup: one rule forwards every event (http, async) to a counting receiver; ${formatNumber(rate)} events/s open loop for ` +
    `${segments} × ${segmentSeconds} s; pruning runs with RETENTION_EVENTS, RETENTION_SESSIONS and RETENTION_DEAD ` +
    `${flags.retention}, PRUNE_INTERVAL=${flags['prune-interval']}; the runs without pruning set PRUNE_INTERVAL=0` +
    (backlog > 0 ? `; each store starts with a backlog of ${formatNumber(backlog)} events received ${flags['backlog-age']} ago.` : '.'),
);
try {
  for (const db of databases) {
    for (const pruning of prunings) {
      console.log(`${db}, pruning ${pruning ? 'on' : 'off'}…`);
      runs.push({ db, pruning, ...(await measure(db, pruning, receiver)) });
    }
  }
} finally {
  await receiver.stop();
}
report();

async function measure(db: Database, pruning: boolean, counting: CountingReceiver): Promise<Omit<Run, 'db' | 'pruning'>> {
  const database = await freshDatabase(db);
  if (backlog > 0) {
    const started = performance.now();
    await database.fillBacklog();
    console.log(`  backlog of ${formatNumber(backlog)} events written in ${formatNumber((performance.now() - started) / 1000, 1)} s: ${await describeSize(database)}`);
  }
  const retention = flags.retention!;
  const server = await startServerProcess(join(ROOT, 'bench/servers/switchboard.ts'), {
    env: {
      ...switchboardEnvironment({ credentials, rulesDir: forwardingRule(counting.url), pluginsDir: join(ROOT, 'plugins'), databaseUrl: database.url }),
      ...(pruning
        ? { RETENTION_EVENTS: retention, RETENTION_SESSIONS: retention, RETENTION_DEAD: retention, PRUNE_INTERVAL: flags['prune-interval']! }
        : { PRUNE_INTERVAL: '0' }),
    },
  });
  const client = new KeepAliveClient(new URL(server.url));
  const source = roomScopedEvents();
  const samples: Sample[] = [];
  let stopped = false;
  try {
    // A warm-up, not measured: connections opened, statements prepared, the first pages of every table written.
    const warmup = await signBeforeRun(source, Math.round(rate * WARMUP_SECONDS), credentials);
    await runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration: WARMUP_SECONDS, deliveries: warmup, client });
    for (let segment = 0; segment < segments; segment += 1) {
      const deliveries = await signBeforeRun(source, Math.round(rate * segmentSeconds), credentials);
      const load = await runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration: segmentSeconds, deliveries, client });
      const size = await database.size();
      const sample = { at: (segment + 1) * segmentSeconds, ...size, p99: load.latency.p99, sent: load.sent, failed: load.non2xx + load.errors };
      samples.push(sample);
      console.log(`  ${sample.at} s: ${await describeSize(database)}, ingest p99 ${formatNumber(sample.p99, 2)} ms, ${sample.failed} failed`);
    }
    client.destroy();
    await server.stop();
    stopped = true;
    return { samples, tables: await database.tables() };
  } finally {
    if (!stopped) {
      client.destroy();
      await server.stop();
    }
    await database.drop();
  }
}

function forwardingRule(url: string): string {
  const dir = join(workDir, 'rules');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'forward.yaml'),
    ['rules:', '  - id: forward-every-event', '    on: "*"', '    actions:', '      - plugin: http', '        mode: async',
      '        ordering: none', `        with: { url: "${url}" }`, ''].join('\n'),
  );
  return dir;
}

interface BenchDatabase {
  url: string;
  fillBacklog(): Promise<void>;
  size(): Promise<{ bytes: number; freeBytes: number | null }>;
  /** The size split into its parts, to print. */
  detail?(): Promise<string>;
  /** Bytes by table, its indexes and TOAST included. */
  tables(): Promise<Record<string, number>>;
  drop(): Promise<void>;
}

async function describeSize(database: BenchDatabase): Promise<string> {
  const { bytes } = await database.size();
  return `${formatNumber(bytes / 2 ** 20, 1)} MiB${database.detail ? ` (${await database.detail()})` : ''}`;
}

/** A fresh store: SQLite, the file and its WAL; PostgreSQL, the schema's tables with their indexes and TOAST. */
async function freshDatabase(db: Database): Promise<BenchDatabase> {
  const name = `switchboard_retention_${randomBytes(6).toString('hex')}`;
  const backlogRows = { events: backlog, ageMs: backlogAgeMs };
  if (db === 'sqlite') {
    const file = join(workDir, `${name}.db`);
    const bytes = (path: string) => (existsSync(path) ? statSync(path).size : 0);
    const inspect = <T>(query: (connection: DatabaseSync) => T): T => {
      const connection = new DatabaseSync(file, { readOnly: true });
      try {
        return query(connection);
      } finally {
        connection.close();
      }
    };
    const pragma = (connection: DatabaseSync, name: string) => Number(Object.values(connection.prepare(`PRAGMA ${name}`).get()!)[0]);
    const freeBytes = () => (existsSync(file) ? inspect((connection) => pragma(connection, 'freelist_count') * pragma(connection, 'page_size')) : 0);
    return {
      url: `file:${file}`,
      async fillBacklog() {
        const store = new SqliteStore(file);
        await store.migrate();
        await store.close();
        await fillBacklog({ sqlite: file }, backlogRows);
      },
      size: async () => ({ bytes: bytes(file) + bytes(`${file}-wal`), freeBytes: freeBytes() }),
      detail: async () =>
        `file ${formatNumber(bytes(file) / 2 ** 20, 1)} MiB of which free ${formatNumber(freeBytes() / 2 ** 20, 1)} MiB, WAL ${formatNumber(bytes(`${file}-wal`) / 2 ** 20, 1)} MiB`,
      // dbstat reads every page: once, at the end of the run.
      tables: async () =>
        Object.fromEntries(
          inspect((connection) =>
            connection
              .prepare(
                `SELECT schema.tbl_name AS name, SUM(stat.pgsize) AS bytes FROM dbstat AS stat
                JOIN sqlite_schema AS schema ON schema.name = stat.name GROUP BY schema.tbl_name`,
              )
              .all()
              .map((row) => [String(row.name), Number(row.bytes)]),
          ),
        ),
      drop: async () => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
      },
    };
  }
  const url = new URL(flags['pg-url']!);
  url.searchParams.set('schema', name);
  const query = async (sql: string): Promise<Array<Record<string, unknown>>> => {
    const client = new pg.Client({ connectionString: flags['pg-url'] });
    await client.connect();
    try {
      return (await client.query(sql, [name])).rows;
    } finally {
      await client.end();
    }
  };
  const tableSizes = `SELECT c.relname AS name, pg_total_relation_size(c.oid)::bigint AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`;
  return {
    url: url.href,
    async fillBacklog() {
      const store = new PostgresStore(url.href);
      await store.migrate();
      await store.close();
      await fillBacklog({ postgres: { url: flags['pg-url']!, schema: name } }, backlogRows);
    },
    async size() {
      const rows = await query(tableSizes);
      return { bytes: rows.reduce((sum, row) => sum + Number(row.bytes), 0), freeBytes: null };
    },
    async detail() {
      const [row] = await query(`SELECT COALESCE(SUM(n_dead_tup), 0)::bigint AS dead FROM pg_stat_user_tables WHERE schemaname = $1`);
      return `${formatNumber(Number(row?.dead ?? 0))} dead rows awaiting autovacuum`;
    },
    tables: async () => Object.fromEntries((await query(tableSizes)).map((row) => [String(row.name), Number(row.bytes)])),
    drop: () => postgresQuery(flags['pg-url']!, `DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}

function report(): void {
  const mib = (bytes: number) => formatNumber(bytes / 2 ** 20, 1);
  const ms = (value: number) => formatNumber(value, 2);
  const label = (run: Run) => `${run.db} ${run.pruning ? 'pruning' : 'no pruning'}`;
  const times = runs[0]?.samples.map((sample) => sample.at) ?? [];
  const perSegment = (cell: (sample: Sample) => string) =>
    markdownTable([
      ['s', ...runs.map(label)],
      ...times.map((at, index) => [String(at), ...runs.map((run) => (run.samples[index] ? cell(run.samples[index]) : '–'))]),
    ]);
  console.log('\n### Database size over time (MiB; SQLite: of which free pages, kept for reuse)\n');
  console.log(perSegment((sample) => `${mib(sample.bytes)}${sample.freeBytes === null ? '' : ` (${mib(sample.freeBytes)} free)`}`));
  console.log('\n### Ingest p99 per segment (ms)\n');
  console.log(perSegment((sample) => ms(sample.p99)));
  console.log('\n### Ingest p99 (ms): median and worst segment, over the whole run and once pruning has work\n');
  // Pruning has work from its first run over a backlog, otherwise once the first events are past the retention.
  const busyFrom = ((backlog > 0 ? 0 : durationMs(flags.retention!)) + durationMs(flags['prune-interval']!)) / 1000;
  const rows = runs.map((run) => {
    const busy = run.samples.filter((sample) => sample.at - segmentSeconds >= busyFrom);
    const last = run.samples.at(-1);
    const middle = run.samples[Math.floor(run.samples.length / 2)];
    return [
      run.db,
      run.pruning ? 'on' : 'off',
      ms(median(run.samples.map((sample) => sample.p99))),
      ms(Math.max(...run.samples.map((sample) => sample.p99))),
      busy.length === 0 ? '–' : ms(median(busy.map((sample) => sample.p99))),
      mib(middle?.bytes ?? NaN),
      mib(last?.bytes ?? NaN),
      String(run.samples.reduce((sum, sample) => sum + sample.failed, 0)),
    ];
  });
  console.log(markdownTable([['store', 'pruning', 'p99 median', 'p99 worst', 'p99 median once pruning', 'size at half time MiB', 'size at end MiB', 'failed'], ...rows]));
  console.log('\n### Size by table at the end (MiB, with its indexes)\n');
  const tables = [...new Set(runs.flatMap((run) => Object.keys(run.tables)))].sort();
  console.log(markdownTable([['table', ...runs.map(label)], ...tables.map((table) => [table, ...runs.map((run) => (table in run.tables ? mib(run.tables[table]) : '–'))])]));
}
