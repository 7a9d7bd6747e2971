/**
 * A backlog of old rows written in bulk straight into a migrated store, as an upgrade finds it on a store that kept
 * everything (or after RETENTION_EVENTS was lowered): each event with its outcome, one succeeded delivery with one
 * attempt, and every other event a session with two history rows, all received about `ageMs` ago (spread over the
 * hour before). Used by the pruner's catch-up tests and by `bench:retention --backlog`.
 */
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';

/** Rows written per statement. */
const CHUNK = 50_000;
const SPREAD_SECONDS = 3_600;

/** A SQLite file, or a PostgreSQL server's URL and the schema to fill; migrated beforehand. */
export type BacklogTarget = { sqlite: string } | { postgres: { url: string; schema: string } };

export interface Backlog {
  events: number;
  ageMs: number;
  /** The number of the first event (ids are `EV_backlog_<n>`), so that a second backlog can follow the first. */
  first?: number;
}

/** What the bulk statements need of each database. */
interface Bulk {
  /** The numbers `from` to `to` as rows of a column `i`. */
  series(from: number, to: number): string;
  /** Seconds since the epoch as a stored time. */
  time(seconds: string): string;
  true: string;
  /** Each event of `source` (seq, id, created_at, received_at) a session with two history rows. */
  sessions(source: string): string[];
  /** Each event after `seq` an outcome row, where outcomes have rows of their own. */
  outcomes(seq: number): string[];
  run(sql: string): Promise<void>;
  maxId(table: string, column: string): Promise<number>;
  close(): Promise<void>;
}

/** Writes old events with their deliveries, attempts, outcomes and session history. */
export async function fillBacklog(target: BacklogTarget, { events, ageMs, first = 1 }: Backlog): Promise<void> {
  const bulk = 'sqlite' in target ? sqliteBulk(target.sqlite) : await postgresBulk(target.postgres);
  const oldest = (Date.now() - ageMs) / 1000 - SPREAD_SECONDS;
  const step = SPREAD_SECONDS / (first + events);
  const last = first + events - 1;
  try {
    for (let from = first; from <= last; from += CHUNK) {
      const to = Math.min(last, from + CHUNK - 1);
      const seqBefore = await bulk.maxId('events', 'seq');
      const deliveriesBefore = await bulk.maxId('deliveries', 'id');
      const at = bulk.time(`${oldest} + i * ${step}`);
      const statements = [
        `INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
        SELECT 'EV_backlog_' || i, 'participant_joined', ${Math.round(oldest)}, 'APIbench', ${eventBody()}, ${at},
          'backlog-room-' || (i / 10), 'backlog-user-' || i
        FROM ${bulk.series(from, to)}`,
        ...bulk.outcomes(seqBefore),
        `INSERT INTO deliveries (event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, state,
          attempts, max_attempts, retry_schedule, timeout_ms, due_at, created_at, updated_at)
        SELECT id, seq, name, 'forward-every-event', 0, 'http', '{"url":"http://127.0.0.1:9/hook"}', '127.0.0.1:9',
          'succeeded', 1, 5, '[1000,5000]', 10000, received_at, received_at, received_at
        FROM events WHERE seq > ${seqBefore}`,
        `INSERT INTO delivery_attempts (delivery_id, number, started_at, duration_ms, succeeded, status_code, response)
        SELECT id, 1, created_at, 5, ${bulk.true}, 200, 'ok' FROM deliveries WHERE id > ${deliveriesBefore}`,
        ...bulk.sessions(`SELECT seq, id, created_at, received_at FROM events WHERE seq > ${seqBefore} AND seq % 2 = 0`),
      ];
      for (const sql of statements) await bulk.run(sql);
    }
  } finally {
    await bulk.close();
  }
}

/** About the size of a LiveKit participant_joined webhook, with the event's own id. */
function eventBody(): string {
  const rest = JSON.stringify({
    event: 'participant_joined',
    room: { sid: 'RM_backlog', name: 'backlog-room', emptyTimeout: 300, creationTime: '1700000000', numParticipants: 2 },
    participant: {
      sid: 'PA_backlog', identity: 'backlog-user', state: 'ACTIVE', joinedAt: '1700000000', name: 'Backlog User',
      permission: { canSubscribe: true, canPublish: true, canPublishData: true }, region: 'eu-west', kind: 'STANDARD',
      metadata: '{"plan":"pro","team":"backlog"}', attributes: { city: 'Lisbon' },
    },
    createdAt: '1700000000',
  }).slice(1);
  return `'{"id":"EV_backlog_' || i || '",${rest.replaceAll("'", "''")}'`;
}

function sqliteBulk(file: string): Bulk {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;');
  return {
    series: (from, to) => `(WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to}) SELECT i FROM n)`,
    time: (seconds) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${seconds}, 'unixepoch')`,
    true: '1',
    outcomes: (before) => [
      `INSERT INTO event_outcomes (seq, matched, actions)
      SELECT seq, '["forward-every-event"]', '[{"ruleId":"forward-every-event","plugin":"http","mode":"async"}]'
      FROM events WHERE seq > ${before}`,
    ],
    sessions: (source) => [
      `INSERT INTO session_rows (key, n, status, event_id, event_created_at, event_seq, at, history)
      SELECT 'participant:backlog:' || seq, 0, 'left', id, created_at, seq, received_at, 2 FROM (${source})`,
      `INSERT INTO session_rows (key, n, status, old_status, event_id, event_name, event_created_at, at)
      SELECT 'participant:backlog:' || seq, n, CASE n WHEN 1 THEN 'joined' ELSE 'left' END,
        CASE n WHEN 1 THEN 'absent' ELSE 'joined' END, id, 'participant_joined', created_at, received_at
      FROM (${source}), (SELECT 1 AS n UNION ALL SELECT 2)`,
    ],
    run: async (sql) => db.exec(sql),
    maxId: async (table, column) => Number((db.prepare(`SELECT COALESCE(MAX(${column}), 0) AS max FROM ${table}`).get() as { max: number }).max),
    close: async () => {
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

async function postgresBulk({ url, schema }: { url: string; schema: string }): Promise<Bulk> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`SET search_path TO ${schema}`);
  return {
    series: (from, to) => `generate_series(${from}, ${to}) AS series(i)`,
    time: (seconds) => `to_timestamp(${seconds})`,
    true: 'true',
    outcomes: () => [],
    sessions: (source) => [
      `INSERT INTO sessions (key, status, event_id, event_created_at, event_seq, updated_at)
      SELECT 'participant:backlog:' || seq, 'left', id, created_at, seq, received_at FROM (${source}) AS source`,
      `INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at)
      SELECT 'participant:backlog:' || seq, CASE n WHEN 1 THEN 'joined' ELSE 'left' END,
        CASE n WHEN 1 THEN 'absent' ELSE 'joined' END, id, 'participant_joined', created_at, received_at
      FROM (${source}) AS source, (VALUES (1), (2)) AS history(n)`,
    ],
    run: async (sql) => {
      await client.query(sql);
    },
    maxId: async (table, column) => Number((await client.query(`SELECT COALESCE(MAX(${column}), 0) AS max FROM ${table}`)).rows[0].max),
    close: async () => {
      // As autovacuum would have, on a store that grew this large.
      await client.query('ANALYZE events, deliveries, delivery_attempts, sessions, session_history');
      await client.end();
    },
  };
}
