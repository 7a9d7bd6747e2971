/**
 * The live picture in SQL (see ../live-picture.ts): its schema step, the writes an event makes in its own
 * transaction, and the reads of reconciliation, the admin API and the gauges.
 *
 * Every row keeps the createdAt and seq of the newest event applied to it; an older event (by createdAt, then
 * arrival, as session-transition.ts orders) leaves its status alone but may still fill in a start or end time.
 * `resource_edges` holds the one start and one end of each room, participant and egress, keyed by its sid: the
 * event that claims an edge first is the one, a later event of the same edge is its duplicate.
 */
import { indexedText } from './indexed-text.ts';
import type { OrderingEvent, Page } from '../store.ts';
import {
  OWN_API_KEY,
  type ParticipantRecord,
  type PictureChange,
  type PictureCounts,
  type RoomDetail,
  type RoomEventRecord,
  type RoomRecord,
  type StreamKind,
  type StreamRecord,
} from '../live-picture.ts';
import type { LiveKitParticipant, LiveKitRoom } from '../../livekit/event-types.ts';
import type { LivePicture, LiveRoom, PresentParticipant } from '../../engine/reconcile/picture.ts';
import type { Dialect, Executor, Sql } from './dialect.ts';
import type { Migration } from './migration.ts';
import { pageStart, toPage, type PageRequest } from './page.ts';
import type { ColumnTypes } from './schema.ts';

/** The events listed with a room. */
export const ROOM_EVENTS_LIMIT = 20;

export function livePictureMigration(version: number, types: ColumnTypes): Migration {
  const { serial, text, bigint, time, json } = types;
  return {
    version,
    name: 'live_picture',
    sql: `
      CREATE TABLE rooms (
        id ${serial},
        sid ${text} NOT NULL UNIQUE,
        name ${text} NOT NULL,
        status ${text} NOT NULL,
        started_at ${time},
        finished_at ${time},
        info ${json},
        event_created_at ${bigint},
        event_seq ${bigint} NOT NULL
      );
      CREATE INDEX rooms_by_status ON rooms (status, id);
      CREATE INDEX rooms_by_name ON rooms (name, id);
      CREATE TABLE room_participants (
        sid ${text} PRIMARY KEY,
        room_sid ${text} NOT NULL,
        identity ${text} NOT NULL,
        status ${text} NOT NULL,
        joined_at ${time},
        left_at ${time},
        info ${json},
        event_created_at ${bigint},
        event_seq ${bigint} NOT NULL
      );
      CREATE INDEX room_participants_by_room ON room_participants (room_sid, status);
      CREATE TABLE room_streams (
        kind ${text} NOT NULL,
        id ${text} NOT NULL,
        room_sid ${text} NOT NULL,
        room_name ${text} NOT NULL,
        status ${text} NOT NULL,
        started_at ${time},
        ended_at ${time},
        event_created_at ${bigint},
        event_seq ${bigint} NOT NULL,
        PRIMARY KEY (kind, id)
      );
      CREATE INDEX room_streams_by_room ON room_streams (room_sid);
      CREATE TABLE resource_edges (
        kind ${text} NOT NULL,
        sid ${text} NOT NULL,
        edge ${text} NOT NULL,
        room_sid ${text} NOT NULL,
        event_id ${text} NOT NULL,
        PRIMARY KEY (kind, sid, edge)
      );
      CREATE INDEX resource_edges_by_room ON resource_edges (room_sid);
    `,
  };
}

/** Whether the row being written (`excluded`) is of an event no older than the one `table` holds. */
function newer(table: string): string {
  return `(${table}.event_created_at IS NULL OR excluded.event_created_at IS NULL
    OR excluded.event_created_at >= ${table}.event_created_at)`;
}

/** `column` takes the written value when its event is newer. */
function ifNewer(table: string, column: string): string {
  return `${column} = CASE WHEN ${newer(table)} THEN excluded.${column} ELSE ${table}.${column} END`;
}

const ORDERING = ['event_created_at', 'event_seq'];

type Upserts = Record<'room' | 'participant' | 'stream', Sql>;

export interface PictureStatements {
  claimEdge: Sql;
  selectEdge: Sql;
  /** The write of a change, by the table it goes to (values: see `upsertValues`). */
  upsert: Upserts;
  /**
   * Where the dialect has writable WITH: claim the edge and, if claimed, write, in one statement answering
   * `claimed` (values: the upsert's, then the claim's).
   */
  claimThenUpsert: Upserts | null;
  selectLiveRooms: Sql;
  selectPresent: Sql;
  selectActiveEgress: Sql;
  recordedRoomSids: Sql;
  counts: Sql;
  lastWebhookAt: Sql;
  selectRoomByName: Sql;
  selectRoomParticipants: Sql;
  selectRoomStreams: Sql;
  selectRoomEvents: Sql;
}

/** Each table's upsert as INSERT … SELECT … WHERE `guard` (SQLite needs a WHERE to read ON CONFLICT right). */
function upserts(guard: string): Record<keyof Upserts, string> {
  return {
    room: `INSERT INTO rooms (sid, name, status, started_at, finished_at, info, event_created_at, event_seq)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE ${guard}
      ON CONFLICT (sid) DO UPDATE SET
        started_at = COALESCE(rooms.started_at, excluded.started_at),
        finished_at = COALESCE(rooms.finished_at, excluded.finished_at),
        ${['status', 'info', ...ORDERING].map((column) => ifNewer('rooms', column)).join(', ')}`,
    // The info kept is the one of the participant's first event (its participant_joined, as a rule): a synthetic
    // participant_left reuses it.
    participant: `INSERT INTO room_participants (sid, room_sid, identity, status, joined_at, left_at, info, event_created_at, event_seq)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE ${guard}
      ON CONFLICT (sid) DO UPDATE SET
        joined_at = COALESCE(room_participants.joined_at, excluded.joined_at),
        left_at = COALESCE(room_participants.left_at, excluded.left_at),
        info = COALESCE(room_participants.info, excluded.info),
        ${['status', ...ORDERING].map((column) => ifNewer('room_participants', column)).join(', ')}`,
    stream: `INSERT INTO room_streams (kind, id, room_sid, room_name, status, started_at, ended_at, event_created_at, event_seq)
      SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE ${guard}
      ON CONFLICT (kind, id) DO UPDATE SET
        started_at = COALESCE(room_streams.started_at, excluded.started_at),
        ended_at = COALESCE(room_streams.ended_at, excluded.ended_at),
        ${['status', ...ORDERING].map((column) => ifNewer('room_streams', column)).join(', ')}`,
  };
}

/**
 * Its values: kind, sid, edge, room sid, event id, numbered from `$(after + 1)`. Claimed when it inserts a row: as
 * a statement of its own it says so by its count of changed rows (a RETURNING clause would cost SQLite the insert
 * again); inside a WITH, by the row it returns.
 */
function claimEdge(after: number, returning = ''): string {
  const [kind, sid, edge, roomSid, eventId] = [1, 2, 3, 4, 5].map((n) => `$${after + n}`);
  return `INSERT INTO resource_edges (kind, sid, edge, room_sid, event_id) VALUES (${kind}, ${sid}, ${edge}, ${roomSid}, ${eventId})
    ON CONFLICT (kind, sid, edge) DO NOTHING${returning}`;
}

/** The upsert's values, then the claim's. */
function claimThenUpsert(table: keyof Upserts, upsertValueCount: number): string {
  return `WITH claim AS (${claimEdge(upsertValueCount, ' RETURNING event_id')}),
    write AS (${upserts('EXISTS (SELECT 1 FROM claim)')[table]})
    SELECT EXISTS (SELECT 1 FROM claim) AS claimed`;
}

/** How many values each upsert takes. */
const UPSERT_VALUES: Record<keyof Upserts, number> = { room: 8, participant: 9, stream: 9 };

export function pictureStatements(dialect: Dialect): PictureStatements {
  const { statement, inList } = dialect;
  const present = `room_participants AS participant JOIN rooms AS room ON room.sid = participant.room_sid
    WHERE room.status = 'live' AND participant.status = 'present'`;
  const tables = Object.keys(UPSERT_VALUES) as Array<keyof Upserts>;
  const byTable = (sql: (table: keyof Upserts) => Sql) => Object.fromEntries(tables.map((table) => [table, sql(table)])) as Upserts;
  const plain = upserts('true');
  return {
    claimEdge: statement(claimEdge(0), 'claimEdge'),
    selectEdge: statement(`SELECT event_id AS "eventId" FROM resource_edges WHERE kind = $1 AND sid = $2 AND edge = $3`),
    upsert: byTable((table) => statement(plain[table], `upsert_${table}`)),
    claimThenUpsert: dialect.writableCte
      ? byTable((table) => statement(claimThenUpsert(table, UPSERT_VALUES[table]), `claim_upsert_${table}`))
      : null,
    selectLiveRooms: statement(`SELECT sid, name, info FROM rooms WHERE status = 'live'`),
    selectPresent: statement(
      `SELECT participant.sid, participant.identity, participant.room_sid AS "roomSid", participant.info FROM ${present}`,
    ),
    selectActiveEgress: statement(
      `SELECT id AS "egressId", room_name AS "roomName" FROM room_streams WHERE kind = 'egress' AND ended_at IS NULL`,
    ),
    recordedRoomSids: statement(`SELECT sid FROM rooms WHERE ${inList('sid', '$1', 'text')}`),
    counts: statement(
      `SELECT (SELECT COUNT(*) FROM rooms WHERE status = 'live') AS "roomsLive",
        (SELECT COUNT(*) FROM ${present}) AS "participantsPresent"`,
    ),
    // Backwards along the primary key, stopping at the first webhook.
    lastWebhookAt: statement(
      `SELECT received_at AS "receivedAt" FROM events WHERE api_key <> '${OWN_API_KEY}' ORDER BY seq DESC LIMIT 1`,
    ),
    selectRoomByName: statement(`SELECT ${ROOM_COLUMNS}, info FROM rooms WHERE name = $1 ORDER BY id DESC LIMIT 1`),
    selectRoomParticipants: statement(
      `SELECT sid, identity, room_sid AS "roomSid", joined_at AS "joinedAt", info FROM room_participants
      WHERE room_sid = $1 AND status = 'present' ORDER BY joined_at, sid`,
    ),
    selectRoomStreams: statement(
      `SELECT kind, id, room_sid AS "roomSid", room_name AS "roomName", status, started_at AS "startedAt",
        ended_at AS "endedAt"
      FROM room_streams WHERE room_sid = $1 ORDER BY started_at, id`,
    ),
    selectRoomEvents: statement(
      `SELECT event.id, event.name, event.created_at AS "createdAt", event.received_at AS "receivedAt", event.body
      FROM resource_edges AS edge JOIN events AS event ON event.id = edge.event_id
      WHERE edge.room_sid = $1 ORDER BY event.seq DESC LIMIT $2`,
    ),
  };
}

const ROOM_COLUMNS = `id, sid, name, status, started_at AS "startedAt", finished_at AS "finishedAt"`;

/** JSON parameters go as text (see transaction.ts). */
function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/**
 * Applies an event's change to the picture. When the change's edge was claimed by an earlier event, nothing is
 * written and that event's id is returned: this one is its duplicate.
 */
export async function applyPictureChange(
  db: Executor,
  sql: PictureStatements,
  change: PictureChange,
  event: OrderingEvent,
): Promise<{ duplicateOf: string | null }> {
  const { kind, id, edge, room } = change;
  const table = kind === 'room' || kind === 'participant' ? kind : 'stream';
  const values = upsertValues(change, event);
  if (edge === null || !change.once) {
    await db.run(sql.upsert[table], values);
    return { duplicateOf: null };
  }
  const claim = [kind, id, edge, room.sid, event.id];
  let claimed: boolean;
  if (sql.claimThenUpsert !== null) {
    const [row] = await db.rows<{ claimed: unknown }>(sql.claimThenUpsert[table], [...values, ...claim]);
    claimed = row.claimed === true;
  } else {
    claimed = (await db.run(sql.claimEdge, claim)) > 0;
    if (claimed) await db.run(sql.upsert[table], values);
  }
  if (claimed) return { duplicateOf: null };
  // Claimed by an earlier event, committed (a concurrent claim is waited for) or of this transaction.
  const [first] = await db.rows<{ eventId: string }>(sql.selectEdge, [kind, id, edge]);
  return { duplicateOf: first.eventId };
}

/** The values of the change's upsert, in its `$n` order. */
function upsertValues(change: PictureChange, event: OrderingEvent): unknown[] {
  const { kind, id, edge, room, status } = change;
  const starts = edge === 'start' ? change.at : null;
  const ends = edge === 'end' ? change.at : null;
  const ordering = [event.createdAt, event.seq];
  if (kind === 'room') return [id, room.name, status, starts, ends, jsonOrNull(change.info), ...ordering];
  if (kind === 'participant') return [id, room.sid, change.identity ?? '', status, starts, ends, jsonOrNull(change.info), ...ordering];
  return [kind, id, room.sid, room.name, status, starts, ends, ...ordering];
}

export async function readLivePicture(db: Executor, dialect: Dialect, sql: PictureStatements): Promise<LivePicture> {
  const rooms = await db.rows<{ sid: string; name: string; info: unknown }>(sql.selectLiveRooms);
  const present = await db.rows<{ sid: string; identity: string; roomSid: string; info: unknown }>(sql.selectPresent);
  const egress = await db.rows<{ egressId: string; roomName: string }>(sql.selectActiveEgress);
  const byRoom = new Map<string, PresentParticipant[]>();
  for (const participant of present) {
    const info = jsonValue<LiveKitParticipant>(dialect, participant.info);
    const entry: PresentParticipant = { sid: participant.sid, identity: participant.identity, ...(info !== undefined && { info }) };
    byRoom.set(participant.roomSid, [...(byRoom.get(participant.roomSid) ?? []), entry]);
  }
  return {
    rooms: rooms.map((room): LiveRoom => {
      const info = jsonValue<LiveKitRoom>(dialect, room.info);
      return { sid: room.sid, name: room.name, ...(info !== undefined && { info }), participants: byRoom.get(room.sid) ?? [] };
    }),
    egress,
  };
}

export async function readRecordedRoomSids(db: Executor, sql: PictureStatements, sids: readonly string[]): Promise<Set<string>> {
  const rows = await db.rows<{ sid: string }>(sql.recordedRoomSids, [sids]);
  return new Set(rows.map((row) => row.sid));
}

export async function readPictureCounts(db: Executor, sql: PictureStatements): Promise<PictureCounts> {
  const [row] = await db.rows<PictureCounts>(sql.counts);
  return { roomsLive: Number(row.roomsLive), participantsPresent: Number(row.participantsPresent) };
}

export async function readLastWebhookAt(db: Executor, dialect: Dialect, sql: PictureStatements): Promise<Date | null> {
  const [row] = await db.rows<{ receivedAt: unknown }>(sql.lastWebhookAt);
  return row ? dialect.readDate(row.receivedAt) : null;
}

type RoomRow = Omit<RoomRecord, 'startedAt' | 'finishedAt'> & { startedAt: unknown; finishedAt: unknown };

export async function listRoomRecords(
  db: Executor,
  dialect: Dialect,
  filter: { status?: RoomRecord['status'] },
  page: PageRequest,
): Promise<Page<RoomRecord>> {
  const start = pageStart(page);
  const values: unknown[] = [];
  const conditions = filter.status === undefined ? [] : [`status = $${values.push(filter.status)}`];
  conditions.push(`id < $${values.push(start.beforeId)}`);
  const rows = await db.rows<RoomRow>(
    dialect.statement(
      `SELECT ${ROOM_COLUMNS} FROM rooms WHERE ${conditions.join(' AND ')} ORDER BY id DESC LIMIT $${values.push(start.limit + 1)}`,
    ),
    values,
  );
  return toPage(rows.map((row) => roomRecord(dialect, row)), start);
}

/** The latest room of that name (names are reused; sids are not). */
export async function readRoomDetail(db: Executor, dialect: Dialect, sql: PictureStatements, name: string): Promise<RoomDetail | null> {
  const [row] = await db.rows<RoomRow & { info: unknown }>(sql.selectRoomByName, [indexedText(name)]);
  if (!row) return null;
  const date = (value: unknown) => (value == null ? null : dialect.readDate(value));
  const participants = await db.rows<ParticipantRecord & { joinedAt: unknown }>(sql.selectRoomParticipants, [row.sid]);
  const streams = await db.rows<StreamRecord & { startedAt: unknown; endedAt: unknown }>(sql.selectRoomStreams, [row.sid]);
  const events = await db.rows<Omit<RoomEventRecord, 'synthetic' | 'receivedAt'> & { receivedAt: unknown; body: string }>(
    sql.selectRoomEvents,
    [row.sid, ROOM_EVENTS_LIMIT],
  );
  const streamRecords = streams.map((stream) => ({ ...stream, startedAt: date(stream.startedAt), endedAt: date(stream.endedAt) }));
  const ofKind = (kind: StreamKind) => streamRecords.filter((stream) => stream.kind === kind);
  return {
    ...roomRecord(dialect, row),
    info: jsonValue(dialect, row.info) ?? null,
    participants: participants.map((participant) => ({
      ...participant,
      joinedAt: date(participant.joinedAt),
      info: jsonValue(dialect, participant.info) ?? null,
    })),
    egress: ofKind('egress'),
    ingress: ofKind('ingress'),
    events: events.map(({ body, ...event }) => ({
      ...event,
      receivedAt: dialect.readDate(event.receivedAt),
      synthetic: isSynthetic(body),
    })),
  };
}

function roomRecord(dialect: Dialect, row: RoomRow): RoomRecord {
  const date = (value: unknown) => (value == null ? null : dialect.readDate(value));
  return { ...row, startedAt: date(row.startedAt), finishedAt: date(row.finishedAt) };
}

function isSynthetic(body: string): boolean {
  try {
    return (JSON.parse(body) as { synthetic?: unknown }).synthetic === true;
  } catch {
    return false;
  }
}

function jsonValue<T>(dialect: Dialect, value: unknown): T | undefined {
  return value == null ? undefined : dialect.readJson<T>(value);
}
