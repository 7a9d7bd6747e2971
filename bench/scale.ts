/**
 * `npm run bench:scale`: does Switchboard cost the same on a big store? Ingest (the worker off) and the admin lists on
 * an empty store, then on one filled in bulk with `--events` events (2,000,000), as many finished deliveries and
 * `--backlog` due ones (50,000), with the cost of one claim at that backlog and at 500. The two stores, side by side,
 * are started once each (not counted), then measured `--rounds` times in turns (empty full, full empty, …), and the
 * ingest figures are the medians of the rounds' ratios: on a machine whose speed drifts, one measurement of each is
 * not a comparison.
 * Flags: --db sqlite|postgres (SWITCHBOARD_TEST_PG_URL) --events <n> --backlog <n> --duration <s> (10) --rounds <n> (1).
 */
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { sampleEvent } from '../src/livekit/samples.ts';
import { openStore } from '../src/store/open.ts';
import { readFlags } from './flags.ts';
import { measureIngest, writeBenchRules, type IngestLoad } from './ingest-run.ts';
import { percentiles, type LoadResult } from './load.ts';
import { describeRun, failOn, formatMs, formatNumber, markdownTable, verdict } from './report.ts';
import { freshDatabase, prepareRun, query, ROOT, startSwitchboard, type FreshDatabase } from './setup.ts';

const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const ROOMS = 20_000;
const SMALL_BACKLOG = 500;
const LIST_TARGET_MS = 50;
const INGEST_TOLERANCE = 0.15;

const flags = readFlags(['db', 'events', 'backlog', 'duration', 'rounds']);
const db = flags.choice('db', ['sqlite', 'postgres']);
const eventCount = flags.number('events', 2_000_000, true);
const backlog = flags.number('backlog', 50_000, true);
const { workDir, credentials } = prepareRun('scale');
const load: IngestLoad = { duration: flags.number('duration', 10), warmupSeconds: 3, credentials };
const rounds = flags.number('rounds', 1, true);
const { rulesDir, rulesNote } = await writeBenchRules(workDir, ROOT);
const emptyDatabase = await freshDatabase(db, workDir);
const database = await freshDatabase(db, workDir);
const problems: string[] = [];

/** `lists`: milliseconds per admin list, median and max of its requests. */
type Measured = { ingest: { max: LoadResult; fixed: LoadResult }; lists: Record<string, { median: number; max: number }> };

const LISTS: Record<string, string> = {
  'deliveries by state (succeeded)': '/api/v1/deliveries?status=succeeded&limit=50',
  'deliveries by state (pending)': '/api/v1/deliveries?status=pending&limit=50',
  'deliveries of a target': '/api/v1/deliveries?target=http%3A%2F%2Ftarget-7%3A80&limit=50',
  'events of a room': '/api/v1/events?room=room-1234&limit=50',
  'events of a participant': '/api/v1/events?participant=user-4321&limit=50',
  'events by type since a day ago': `/api/v1/events?type=participant_left&since=${new Date(Date.now() - 86_400_000).toISOString()}&limit=50`,
};

/** Where the two dialects differ in the fill: a series of numbers `i`, a timestamp from ms, a minute ago. */
const SQL = db === 'sqlite'
  ? {
      numbers: `(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${eventCount}) SELECT i FROM n)`,
      timestamp: (ms: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${ms} / 1000.0, 'unixepoch')`,
      minuteAgo: `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 minute')`,
    }
  : {
      numbers: `generate_series(1::bigint, ${eventCount}) AS i`,
      timestamp: (ms: string) => `to_timestamp(${ms} / 1000.0)`,
      minuteAgo: `now() - interval '1 minute'`,
    };

/** The deliveries of the fill: one finished for every event, one due for the newest `backlog` events. */
const deliveriesSql = (select: string, action: number, state: string, attempts: number, due: string) => `INSERT INTO deliveries (event_id, event_seq,
    event_name, rule_id, action_index, plugin, params, target, ordering_key, state, attempts, max_attempts, retry_schedule, timeout_ms, due_at,
    created_at, updated_at)
  SELECT id, seq, name, 'rule-' || (seq % 50), ${action}, 'http', '{"url":"http://target/x"}', 'http://target-' || (seq % 20) || ':80', room,
    '${state}', ${attempts}, 5, '[]', 10000, ${due}, received_at, received_at FROM events ${select}`;

console.log(`${describeRun('bench:scale')}\n${db}, ${formatNumber(eventCount)} events, a backlog of ${formatNumber(backlog)}; Switchboard: ${rulesNote}`);
try {
  const migrating = await openStore(database.url);
  await migrating.migrate().finally(() => migrating.close());
  const fillStarted = performance.now();
  await fill();
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  console.log(`filled in ${formatNumber(fillSeconds)} s; measuring ${formatNumber(rounds)} round(s)…`);
  const measured: Array<{ empty: Measured; full: Measured }> = [];
  // Round 0 is the first start on each store, printed but not counted: on a store just filled it pays for work done
  // once (docs/performance.md, cost at scale).
  const firstStart: string[] = [];
  for (let round = 0; round <= rounds; round++) {
    const sink = round === 0 ? firstStart : problems;
    const [empty, full] = round % 2 === 0
      ? [await measure(emptyDatabase, sink), await measure(database, sink)]
      : await measure(database, sink).then(async (full) => [await measure(emptyDatabase, sink), full]);
    console.log(`round ${round}${round === 0 ? ' (first start, not counted)' : ''}: ingest ${formatNumber(empty.ingest.max.eventsPerSecond)} events/s empty, ` +
      `${formatNumber(full.ingest.max.eventsPerSecond)} full; p99 at 1,000/s ${formatMs(empty.ingest.fixed.latency.p99)} and ${formatMs(full.ingest.fixed.latency.p99)} ms`);
    if (round > 0) measured.push({ empty, full });
  }
  report(measured, await claimCosts(), fillSeconds);
  if (firstStart.length > 0) console.log(`\nAt the first start (not counted): ${firstStart.join('; ')}`);
  failOn(problems);
} finally {
  await Promise.all([database.drop(), emptyDatabase.drop()]);
}

async function measure(target: FreshDatabase, problems: string[]): Promise<Measured> {
  // The backlog stays where it is (WORKER_CONCURRENCY=0): the ingest measured is the same work on both stores.
  const server = await startSwitchboard(ROOT, { credentials, rulesDir, databaseUrl: target.url, env: { WORKER_CONCURRENCY: '0', ADMIN_TOKEN } });
  try {
    const ingest = await measureIngest('switchboard', server, load, problems);
    const lists: Measured['lists'] = {};
    for (const [name, path] of Object.entries(LISTS)) lists[name] = await timeList(`${new URL(server.url).origin}${path}`);
    return { ingest, lists };
  } finally {
    await server.stop();
  }
}

/** 20 timings of `once` after an untimed first call: median and max, ms. */
async function timed(once: (i: number) => Promise<unknown>): Promise<{ median: number; max: number }> {
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const started = performance.now();
    await once(i);
    if (i > 0) times.push(performance.now() - started);
  }
  const { p50, max } = percentiles(times);
  return { median: p50, max };
}

function timeList(url: string): Promise<{ median: number; max: number }> {
  return timed(async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    await response.text();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  });
}

/**
 * The bulk fill, in the database's own loop: events spread over the last 30 days in `ROOMS` rooms, each with a
 * finished delivery, and the newest `backlog` events each with one more, due now, ordered by room.
 */
async function fill(): Promise<void> {
  const body = JSON.stringify(sampleEvent('participant_joined', { room: 'ROOM', participant: 'USER' })).replaceAll("'", "''");
  const spanMs = 30 * 86_400_000;
  const createdMs = `(${Date.now() - spanMs} + i * ${spanMs / eventCount})`;
  const name = `CASE i % 4 WHEN 0 THEN 'participant_joined' WHEN 1 THEN 'participant_left' WHEN 2 THEN 'track_published' ELSE 'room_started' END`;
  const statements = [
    `INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
    SELECT 'EV_scale' || i, ${name}, ${createdMs} / 1000, 'APIbench',
      replace(replace('${body}', 'ROOM', 'room-' || (i % ${ROOMS})), 'USER', 'user-' || (i % 100000)), ${SQL.timestamp(createdMs)},
      'room-' || (i % ${ROOMS}), 'user-' || (i % 100000)
    FROM ${SQL.numbers}`,
    ...(db === 'sqlite' ? [`INSERT INTO event_outcomes (seq, matched, actions) SELECT seq, '[]', '[]' FROM events WHERE id LIKE 'EV_scale%'`] : []),
    deliveriesSql(`WHERE id LIKE 'EV_scale%'`, 0, 'succeeded', 1, 'received_at'),
    deliveriesSql(`ORDER BY seq DESC LIMIT ${backlog}`, 1, 'pending', 0, SQL.minuteAgo),
  ];
  if (db === 'postgres') {
    // The checkpoint writes the fill's pages out now, not during the first measurement on the full store.
    for (const statement of [...statements, 'VACUUM ANALYZE', 'CHECKPOINT']) await query(database, statement);
    return;
  }
  // One transaction, unsynced: a bulk load, not the store's own durable writes.
  const sqlite = new DatabaseSync(database.file);
  sqlite.exec(['PRAGMA synchronous = OFF', 'BEGIN', ...statements, 'COMMIT', 'PRAGMA wal_checkpoint(TRUNCATE)', 'ANALYZE'].join(';\n'));
  sqlite.close();
}

/**
 * One claim of 16, through the store as the worker makes it, timed 20 times at the full backlog, then again once
 * all but `SMALL_BACKLOG` of it are cancelled: the same table, a backlog a hundred times smaller.
 */
async function claimCosts(): Promise<{ full: number; small: number }> {
  const store = await openStore(database.url);
  const claim = (i: number) => store.transaction((tx) => tx.claimDueDeliveries({ owner: `bench-${i}`, now: new Date(), limit: 16, leaseMs: 600_000, skipTargets: [] }));
  try {
    const full = (await timed(claim)).median;
    await query(database, `UPDATE deliveries SET state = 'cancelled' WHERE state = 'pending' AND id NOT IN (
      SELECT id FROM deliveries WHERE state = 'pending' ORDER BY id DESC LIMIT ${SMALL_BACKLOG})`);
    return { full, small: (await timed(claim)).median };
  } finally {
    await store.close();
  }
}

/** The ingest figures are the medians of the rounds' full ÷ empty ratios; the lists are the first round's. */
function report(measured: Array<{ empty: Measured; full: Measured }>, claims: { full: number; small: number }, fillSeconds: number): void {
  const median = (values: number[]) => percentiles(values).p50;
  const ratios = (pick: (m: Measured) => number) => median(measured.map(({ empty, full }) => pick(full) / pick(empty)));
  const medianOf = (side: 'empty' | 'full', pick: (m: Measured) => number) => median(measured.map((round) => pick(round[side])));
  const eventsPerSecond = (m: Measured) => m.ingest.max.eventsPerSecond;
  const p99Of = (m: Measured) => m.ingest.fixed.latency.p99;
  const throughput = ratios(eventsPerSecond);
  const p99 = ratios(p99Of);
  const [{ empty, full }] = measured;
  const list = (m: Measured, name: string) => `${formatNumber(m.lists[name].median, 1)} (${formatNumber(m.lists[name].max, 1)})`;
  const rows = [
    ['', 'empty store', `${formatNumber(eventCount)} events`, 'full ÷ empty', `target`],
    ['ingest events/s (max)', formatNumber(medianOf('empty', eventsPerSecond)), formatNumber(medianOf('full', eventsPerSecond)),
      formatNumber(throughput, 2), `≥ ${1 - INGEST_TOLERANCE} ${verdict(throughput >= 1 - INGEST_TOLERANCE)}`],
    ['ingest p99 ms at 1,000/s', formatMs(medianOf('empty', p99Of)), formatMs(medianOf('full', p99Of)),
      formatNumber(p99, 2), `≤ ${1 + INGEST_TOLERANCE} ${verdict(p99 <= 1 + INGEST_TOLERANCE)}`],
    ...Object.keys(LISTS).map((name) =>
      [`${name}: median (max) ms`, list(empty, name), list(full, name), '', `≤ ${LIST_TARGET_MS} ${verdict(full.lists[name].max <= LIST_TARGET_MS)}`]),
    ['one claim of 16, median ms', `${formatMs(claims.small)} (backlog ${formatNumber(SMALL_BACKLOG)})`,
      `${formatMs(claims.full)} (backlog ${formatNumber(backlog)})`, formatNumber(claims.full / claims.small, 2), 'flat'],
  ];
  const perRound = measured.map(({ empty, full }, round) => [
    String(round + 1), formatNumber(eventsPerSecond(empty)), formatNumber(eventsPerSecond(full)), formatNumber(eventsPerSecond(full) / eventsPerSecond(empty), 2),
    formatMs(p99Of(empty)), formatMs(p99Of(full)),
  ]);
  console.log(`\nFilled in ${formatNumber(fillSeconds)} s. Ingest: the medians of ${formatNumber(measured.length)} round(s) in turns.\n\n${markdownTable(rows)}`);
  if (measured.length > 1) {
    const header = ['round', 'empty events/s', 'full events/s', 'full ÷ empty', 'empty p99 ms', 'full p99 ms'];
    console.log(`\n${markdownTable([header, ...perRound])}`);
  }
}
