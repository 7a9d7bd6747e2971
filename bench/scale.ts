/**
 * `npm run bench:scale`: does Switchboard cost the same on a big store as on an empty one? On one backend
 * (`--db sqlite|postgres`): ingest (max throughput and p99 at 1,000 events/s, the worker off) and the admin lists on
 * an empty store; then the store is filled in bulk with `--events` events (default 2,000,000), as many finished
 * deliveries and a backlog of `--backlog` due ones (default 50,000), and the same is measured again, with the cost
 * of one claim at that backlog and at a backlog of 500. Flags: --duration <s> --pg-url <url>.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openStore } from '../src/store/open.ts';
import { sampleEvent } from '../src/livekit/samples.ts';
import { freshDatabase, type Database } from './delivery-run.ts';
import { positiveNumber, wholeNumber } from './flags.ts';
import { startInTurn, writeBenchRules, type IngestLoad } from './ingest-run.ts';
import { percentiles, type LoadResult } from './load.ts';
import { describeRun, formatNumber, markdownTable, verdict } from './report.ts';
import { switchboardEnvironment } from './server-process.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const ROOMS = 20_000;
const SMALL_BACKLOG = 500;
const LIST_TARGET_MS = 50;
const INGEST_TOLERANCE = 0.15;

const { values: flags } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    events: { type: 'string', default: '2000000' },
    backlog: { type: 'string', default: '50000' },
    duration: { type: 'string', default: '10' },
    'pg-url': { type: 'string', default: process.env.SWITCHBOARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
if (flags.db !== 'sqlite' && flags.db !== 'postgres') throw new Error('--db is sqlite or postgres');
const db = flags.db as Database;
const eventCount = wholeNumber('--events', flags.events!);
const backlog = wholeNumber('--backlog', flags.backlog!);
const load: IngestLoad = {
  connections: 16,
  rate: 1000,
  duration: positiveNumber('--duration', flags.duration!),
  warmupSeconds: 3,
  credentials: { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') },
};

const workDir = mkdtempSync(join(tmpdir(), 'switchboard-scale-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
process.once('SIGINT', () => process.exit(130));
const rulesDir = join(workDir, 'rules');
const rulesNote = await writeBenchRules(rulesDir, ROOT);
const database = await freshDatabase({ db, pgUrl: flags['pg-url']!, workDir });

const problems: string[] = [];

interface Measured {
  ingest: { max: LoadResult; fixed: LoadResult };
  /** Milliseconds per admin list, median and max of its requests. */
  lists: Record<string, { median: number; max: number }>;
}

const LISTS: Record<string, () => string> = {
  'deliveries by state (succeeded)': () => '/api/v1/deliveries?status=succeeded&limit=50',
  'deliveries by state (pending)': () => '/api/v1/deliveries?status=pending&limit=50',
  'deliveries of a target': () => '/api/v1/deliveries?target=http%3A%2F%2Ftarget-7%3A80&limit=50',
  'events of a room': () => '/api/v1/events?room=room-1234&limit=50',
  'events of a participant': () => '/api/v1/events?participant=user-4321&limit=50',
  'events by type since a day ago': () => `/api/v1/events?type=participant_left&since=${new Date(Date.now() - 86_400_000).toISOString()}&limit=50`,
};

// Every event filled gets one finished delivery.
const FINISHED_DELIVERIES = `INSERT INTO deliveries (event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key,
      state, attempts, max_attempts, retry_schedule, timeout_ms, due_at, created_at, updated_at)
    SELECT id, seq, name, 'rule-' || (seq % 50), 0, 'http', '{"url":"http://target/x"}', 'http://target-' || (seq % 20) || ':80', room,
      'succeeded', 1, 5, '[]', 10000, received_at, received_at, received_at
    FROM events WHERE id LIKE 'EV_scale%'`;

console.log(`${describeRun('bench:scale')}\n${db}, ${formatNumber(eventCount)} events, a backlog of ${formatNumber(backlog)}; Switchboard: ${rulesNote}`);
try {
  const empty = await measure();
  console.log('empty store measured; filling…');
  const fillStarted = performance.now();
  await fill();
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  const full = await measure();
  const claims = await claimCosts();
  report(empty, full, claims, fillSeconds);
  if (problems.length > 0) {
    console.error(`\nFAILED: these results are not valid measurements:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
} finally {
  await database.drop();
}

async function measure(): Promise<Measured> {
  const server = await startInTurn(
    {
      name: 'switchboard',
      script: join(ROOT, 'bench/servers/switchboard.ts'),
      env: {
        ...switchboardEnvironment({ credentials: load.credentials, rulesDir, pluginsDir: join(ROOT, 'plugins'), databaseUrl: database.url }),
        // The backlog stays where it is: the ingest measured is the same work on both stores.
        WORKER_CONCURRENCY: '0',
        ADMIN_TOKEN,
      },
      isSwitchboard: true,
    },
    load,
  );
  try {
    await server.warmUp();
    const ingest = { max: await server.atMaxThroughput(), fixed: await server.atFixedRate() };
    const base = new URL(server.url).origin;
    const lists: Measured['lists'] = {};
    for (const [name, path] of Object.entries(LISTS)) lists[name] = await timeList(`${base}${path()}`);
    problems.push(...server.problems());
    return { ingest, lists };
  } finally {
    await server.stop();
  }
}

async function timeList(url: string): Promise<{ median: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const started = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    await response.text();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    if (i > 0) times.push(performance.now() - started);
  }
  const { p50, max } = percentiles(times);
  return { median: p50, max };
}

/**
 * The bulk fill, in the database's own loop: events spread over the last 30 days in `ROOMS` rooms, each with a
 * finished delivery, and the newest `backlog` events each with one more, due now, ordered by room.
 */
async function fill(): Promise<void> {
  const body = JSON.stringify(sampleEvent('participant_joined', { room: 'ROOM', participant: 'USER' }));
  const nowMs = Date.now();
  const spanMs = 30 * 86_400_000;
  if (db === 'sqlite') {
    const sqlite = new DatabaseSync(new URL(database.url).pathname);
    sqlite.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; BEGIN');
    const at = `strftime('%Y-%m-%dT%H:%M:%fZ', (${nowMs - spanMs} + i * ${spanMs / eventCount}) / 1000.0, 'unixepoch')`;
    sqlite.prepare(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
      INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
      SELECT 'EV_scale' || i, json_extract('["participant_joined","participant_left","track_published","room_started"]', '$[' || (i % 4) || ']'),
        (${nowMs - spanMs} + i * ${spanMs / eventCount}) / 1000, 'APIbench',
        replace(replace(?2, 'ROOM', 'room-' || (i % ${ROOMS})), 'USER', 'user-' || (i % 100000)), ${at},
        'room-' || (i % ${ROOMS}), 'user-' || (i % 100000)
      FROM n`).run(eventCount, body);
    sqlite.exec(`INSERT INTO event_outcomes (seq, matched, actions) SELECT seq, '[]', '[]' FROM events WHERE id LIKE 'EV_scale%'`);
    sqlite.exec(FINISHED_DELIVERIES);
    sqlite.prepare(backlogSql(`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 minute')`)).run();
    sqlite.exec('COMMIT; PRAGMA wal_checkpoint(TRUNCATE); ANALYZE');
    sqlite.close();
    return;
  }
  const client = new pg.Client({ connectionString: flags['pg-url'] });
  await client.connect();
  try {
    const schema = new URL(database.url).searchParams.get('schema')!;
    await client.query(`SET search_path TO ${schema}`);
    await client.query(
      `INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
      SELECT 'EV_scale' || i, (ARRAY['participant_joined','participant_left','track_published','room_started'])[1 + i % 4],
        (${nowMs - spanMs} + i::bigint * ${spanMs / eventCount}) / 1000, 'APIbench',
        replace(replace($1, 'ROOM', 'room-' || (i % ${ROOMS})), 'USER', 'user-' || (i % 100000)),
        to_timestamp((${nowMs - spanMs} + i::bigint * ${spanMs / eventCount}) / 1000.0),
        'room-' || (i % ${ROOMS}), 'user-' || (i % 100000)
      FROM generate_series(1, $2::integer) AS i`,
      [body, eventCount],
    );
    await client.query(FINISHED_DELIVERIES);
    await client.query(backlogSql(`now() - interval '1 minute'`));
    await client.query('VACUUM ANALYZE');
  } finally {
    await client.end();
  }
}


function backlogSql(due: string): string {
  return `INSERT INTO deliveries (event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key,
      state, attempts, max_attempts, retry_schedule, timeout_ms, due_at, created_at, updated_at)
    SELECT id, seq, name, 'rule-' || (seq % 50), 1, 'http', '{"url":"http://target/x"}', 'http://target-' || (seq % 20) || ':80', room,
      'pending', 0, 5, '[]', 10000, ${due}, received_at, received_at
    FROM events ORDER BY seq DESC LIMIT ${backlog}`;
}

/**
 * One claim of 16, through the store as the worker makes it, timed 20 times at the full backlog, then again once
 * all but `SMALL_BACKLOG` of it are cancelled: the same table, a backlog a hundred times smaller.
 */
async function claimCosts(): Promise<{ full: number; small: number }> {
  const store = await openStore(database.url);
  try {
    const full = await timeClaims(store);
    await execute(`UPDATE deliveries SET state = 'cancelled' WHERE state = 'pending' AND id NOT IN (
      SELECT id FROM deliveries WHERE state = 'pending' ORDER BY id DESC LIMIT ${SMALL_BACKLOG})`);
    const small = await timeClaims(store);
    return { full, small };
  } finally {
    await store.close();
  }
}

/** One statement on the store, outside Switchboard. */
async function execute(sql: string): Promise<void> {
  if (db === 'sqlite') {
    const sqlite = new DatabaseSync(new URL(database.url).pathname);
    sqlite.exec(sql);
    sqlite.close();
    return;
  }
  const client = new pg.Client({ connectionString: flags['pg-url'] });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${new URL(database.url).searchParams.get('schema')}`);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function timeClaims(store: Awaited<ReturnType<typeof openStore>>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const started = performance.now();
    await store.transaction((tx) => tx.claimDueDeliveries({ owner: `bench-${i}`, now: new Date(), limit: 16, leaseMs: 600_000, skipTargets: [] }));
    if (i > 0) times.push(performance.now() - started);
  }
  return percentiles(times).p50;
}

function report(empty: Measured, full: Measured, claims: { full: number; small: number }, fillSeconds: number): void {
  const ratio = (pick: (m: Measured) => number) => pick(full) / pick(empty);
  const rows = [
    ['', 'empty store', `${formatNumber(eventCount)} events`, 'full ÷ empty', `target`],
    ['ingest events/s (max)', formatNumber(empty.ingest.max.eventsPerSecond), formatNumber(full.ingest.max.eventsPerSecond),
      formatNumber(ratio((m) => m.ingest.max.eventsPerSecond), 2), `≥ ${1 - INGEST_TOLERANCE} ${verdict(ratio((m) => m.ingest.max.eventsPerSecond) >= 1 - INGEST_TOLERANCE)}`],
    ['ingest p99 ms at 1,000/s', formatNumber(empty.ingest.fixed.latency.p99, 2), formatNumber(full.ingest.fixed.latency.p99, 2),
      formatNumber(ratio((m) => m.ingest.fixed.latency.p99), 2), `≤ ${1 + INGEST_TOLERANCE} ${verdict(ratio((m) => m.ingest.fixed.latency.p99) <= 1 + INGEST_TOLERANCE)}`],
    ...Object.keys(LISTS).map((name) => [
      `${name}: median (max) ms`,
      `${formatNumber(empty.lists[name].median, 1)} (${formatNumber(empty.lists[name].max, 1)})`,
      `${formatNumber(full.lists[name].median, 1)} (${formatNumber(full.lists[name].max, 1)})`,
      '',
      `≤ ${LIST_TARGET_MS} ${verdict(full.lists[name].max <= LIST_TARGET_MS)}`,
    ]),
    ['one claim of 16, median ms', `${formatNumber(claims.small, 2)} (backlog ${formatNumber(SMALL_BACKLOG)})`,
      `${formatNumber(claims.full, 2)} (backlog ${formatNumber(backlog)})`, formatNumber(claims.full / claims.small, 2), 'flat'],
  ];
  console.log(`\nFilled in ${formatNumber(fillSeconds)} s.\n\n${markdownTable(rows)}`);
}
