/**
 * `npm run bench:retention`: does retention keep the disk flat without hurting ingest? Switchboard forwards every
 * event (one async http rule, to a counting receiver) at a steady rate, twice per store: once with the pruner off,
 * once with short retention (RETENTION_EVENTS, PRUNE_INTERVAL). It reports the database's size over time and the
 * ingest p99 of each segment, pruning against not. Tokens live five minutes, so the load is sent in segments, each
 * signed just before it. Flags: --db sqlite|postgres|both --rate <events/s> --minutes <m> --segment <s>
 * --retention <duration> --prune-interval <duration> --pruning both|on|off --pg-url <url>.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { postgresQuery, roomScopedEvents, signBeforeRun, type Database } from './delivery-run.ts';
import { durationMs } from '../src/duration.ts';
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
const credentials = { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') };

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-retention-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));

interface Sample {
  /** Seconds since the load began. */
  at: number;
  bytes: number;
  p99: number;
  sent: number;
  failed: number;
}

interface Run {
  db: Database;
  pruning: boolean;
  samples: Sample[];
}

const receiver = await startCountingReceiver();
const runs: Run[] = [];
console.log(describeRun('bench:retention'));
console.log(
  `Setup: one rule forwards every event (http, async) to a counting receiver; ${formatNumber(rate)} events/s open loop for ` +
    `${segments} × ${segmentSeconds} s; pruning runs with RETENTION_EVENTS=${flags.retention} PRUNE_INTERVAL=${flags['prune-interval']}, ` +
    'the others at their defaults; the runs without pruning set PRUNE_INTERVAL=0.',
);
try {
  for (const db of databases) {
    for (const pruning of prunings) {
      console.log(`${db}, pruning ${pruning ? 'on' : 'off'}…`);
      runs.push({ db, pruning, samples: await measure(db, pruning, receiver) });
    }
  }
} finally {
  await receiver.stop();
}
report();

async function measure(db: Database, pruning: boolean, counting: CountingReceiver): Promise<Sample[]> {
  const database = await freshDatabase(db);
  const server = await startServerProcess(join(ROOT, 'bench/servers/switchboard.ts'), {
    env: {
      ...switchboardEnvironment({ credentials, rulesDir: forwardingRule(counting.url), pluginsDir: join(ROOT, 'plugins'), databaseUrl: database.url }),
      ...(pruning ? { RETENTION_EVENTS: flags.retention!, PRUNE_INTERVAL: flags['prune-interval']! } : { PRUNE_INTERVAL: '0' }),
    },
  });
  const client = new KeepAliveClient(new URL(server.url));
  const source = roomScopedEvents();
  const samples: Sample[] = [];
  try {
    // A warm-up, not measured: connections opened, statements prepared, the first pages of every table written.
    const warmup = await signBeforeRun(source, Math.round(rate * WARMUP_SECONDS), credentials);
    await runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration: WARMUP_SECONDS, deliveries: warmup, client });
    for (let segment = 0; segment < segments; segment += 1) {
      const deliveries = await signBeforeRun(source, Math.round(rate * segmentSeconds), credentials);
      const load = await runAtFixedRate({ url: server.url, serverPid: server.pid, rate, duration: segmentSeconds, deliveries, client });
      const sample = {
        at: (segment + 1) * segmentSeconds,
        bytes: await database.size(),
        p99: load.latency.p99,
        sent: load.sent,
        failed: load.non2xx + load.errors,
      };
      samples.push(sample);
      const detail = database.detail ? ` (${await database.detail()})` : '';
      console.log(`  ${sample.at} s: ${formatNumber(sample.bytes / 2 ** 20, 1)} MiB${detail}, ingest p99 ${formatNumber(sample.p99, 2)} ms, ${sample.failed} failed`);
    }
    return samples;
  } finally {
    client.destroy();
    await server.stop();
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

/** A fresh store, and how many bytes it holds on disk now (SQLite: the file and its WAL; PostgreSQL: the schema's tables, indexes and TOAST). */
async function freshDatabase(db: Database): Promise<{ url: string; size(): Promise<number>; detail?(): Promise<string>; drop(): Promise<void> }> {
  const name = `switchboard_retention_${randomBytes(6).toString('hex')}`;
  if (db === 'sqlite') {
    const file = join(workDir, `${name}.db`);
    const bytes = (path: string) => (existsSync(path) ? statSync(path).size : 0);
    return {
      url: `file:${file}`,
      size: async () => bytes(file) + bytes(`${file}-wal`),
      detail: async () => `file ${formatNumber(bytes(file) / 2 ** 20, 1)} MiB + WAL ${formatNumber(bytes(`${file}-wal`) / 2 ** 20, 1)} MiB`,
      drop: async () => rmSync(file, { force: true }),
    };
  }
  const url = new URL(flags['pg-url']!);
  url.searchParams.set('schema', name);
  return {
    url: url.href,
    async size() {
      const client = new pg.Client({ connectionString: flags['pg-url'] });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
          [name],
        );
        return Number(rows[0].bytes);
      } finally {
        await client.end();
      }
    },
    drop: () => postgresQuery(flags['pg-url']!, `DROP SCHEMA IF EXISTS ${name} CASCADE`),
  };
}

function report(): void {
  const mib = (bytes: number) => formatNumber(bytes / 2 ** 20, 1);
  const ms = (value: number) => formatNumber(value, 2);
  console.log('\n### Database size over time (MiB)\n');
  const times = runs[0]?.samples.map((sample) => sample.at) ?? [];
  console.log(
    markdownTable([
      ['s', ...runs.map((run) => `${run.db} ${run.pruning ? 'pruning' : 'no pruning'}`)],
      ...times.map((at, index) => [String(at), ...runs.map((run) => mib(run.samples[index]?.bytes ?? NaN))]),
    ]),
  );
  console.log('\n### Ingest p99 per segment (ms): median and worst, over the whole run and once pruning has work\n');
  // Pruning has work once the first events are older than the retention, plus a prune interval.
  const busyFrom = (durationMs(flags.retention!) + durationMs(flags['prune-interval']!)) / 1000;
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
}
