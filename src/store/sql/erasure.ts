/**
 * Erasure of a person's or a room's data, written once. The events that mention the subject are found by a scan of
 * stored bodies (a LIKE on the subject as a JSON string, checked by parsing), in batches; each batch is rewritten in
 * a transaction of its own: the bodies with the subject's identity, name, metadata and attributes replaced by a
 * marker, then the outcomes, delivery params and attempt answers of those events with every value learned from the
 * bodies replaced too. Deliveries still queued for those events are cancelled with E_ERASED. The usage ledger is
 * left as it is: its numbers stay, and it holds no body.
 *
 * The scan reads every event body; once events carry indexed room and participant columns it should use them.
 */
import type { ErasureCounts, ErasureSubject } from '../store.ts';
import type { Dialect, Executor } from './dialect.ts';
import { movableBy, state } from './moves.ts';
import type { PruneAccess } from './retention.ts';

/** Events looked at per batch. */
const BATCH = 200;
/** Learned values shorter than this are replaced only where a whole string equals them, never inside text. */
const SHORTEST_REPLACED_WITHIN = 3;
const PERSON_FIELDS = ['identity', 'name', 'metadata', 'attributes'];
const ROOM_FIELDS = ['name', 'metadata'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The values that name the subject, growing as bodies show its name, metadata and attributes. */
class Sensitive {
  readonly #values = new Set<string>();
  readonly #marker: string;

  constructor(marker: string, first: string) {
    this.#marker = marker;
    this.learn(first);
  }

  learn(value: Json | undefined): void {
    if (typeof value === 'string') {
      if (value !== '' && value !== this.#marker) this.#values.add(value);
    } else if (value !== null && typeof value === 'object') {
      for (const inner of Object.values(value)) this.learn(inner);
    }
  }

  /** `text` with every value replaced: whole, or, for values long enough not to be mistaken, inside it. */
  replace(text: string): string {
    let replaced = text;
    // Longest first, so that a name holding the identity goes whole.
    for (const value of [...this.#values].sort((a, b) => b.length - a.length)) {
      if (replaced === value) return this.#marker;
      if (value.length >= SHORTEST_REPLACED_WITHIN) replaced = replaced.replaceAll(value, this.#marker);
    }
    return replaced;
  }

  /** Every string in `value`, replaced. */
  scrub(value: Json): Json {
    if (typeof value === 'string') return this.replace(value);
    if (Array.isArray(value)) return value.map((item) => this.scrub(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, this.scrub(inner)]));
    }
    return value;
  }
}

/** Whether a parsed body holds `needle` as a whole string anywhere. */
function mentions(value: Json, needle: string): boolean {
  if (typeof value === 'string') return value === needle;
  if (Array.isArray(value)) return value.some((item) => mentions(item, needle));
  if (value !== null && typeof value === 'object') return Object.values(value).some((inner) => mentions(inner, needle));
  return false;
}

/**
 * The body with the subject's fields replaced: a participant's object (the one with its identity; for a room, every
 * participant's in its events) and the room's own object. What they held is learned, to be replaced elsewhere.
 */
function eraseFields(value: Json, subject: ErasureSubject, sensitive: Sensitive, marker: string, key = ''): Json {
  if (Array.isArray(value)) return value.map((item) => eraseFields(item, subject, sensitive, marker));
  if (value === null || typeof value !== 'object') return value;
  const byRoom = 'room' in subject;
  const person = typeof value.identity === 'string' && (byRoom || value.identity === subject.participantIdentity);
  const room = byRoom && key === 'room' && value.name === subject.room;
  const fields = person ? PERSON_FIELDS : room ? ROOM_FIELDS : [];
  const erased: { [key: string]: Json } = {};
  for (const [name, inner] of Object.entries(value)) {
    if (fields.includes(name)) {
      sensitive.learn(inner);
      erased[name] = name === 'attributes' ? {} : marker;
    } else {
      erased[name] = eraseFields(inner, subject, sensitive, marker, name);
    }
  }
  return erased;
}

/** `%"value"%` for LIKE with `\` as its escape: the subject as a JSON string somewhere in a body. */
function likeJsonString(value: string): string {
  return `%${JSON.stringify(value).replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

interface EventRow {
  seq: number;
  id: string;
  body: string;
}

/** The statements, in a dialect. */
export function erasureStatements(dialect: Dialect) {
  const { statement, inList } = dialect;
  return {
    findEvents: statement(
      `SELECT seq, id, body FROM events WHERE seq > $1 AND body LIKE $2 ESCAPE '\\' ORDER BY seq LIMIT $3`,
    ) as string,
    rewriteBody: statement('UPDATE events SET body = $1 WHERE seq = $2') as string,
    cancelQueued: statement(
      `UPDATE deliveries SET state = ${state('cancelled')}, last_error = $1, updated_at = $2
      WHERE ${inList('event_id', '$3', 'text')} AND ${movableBy('cancel')}`,
    ) as string,
    selectDeliveries: statement(
      `SELECT id, params, last_error AS "lastError" FROM deliveries WHERE ${inList('event_id', '$1', 'text')}`,
    ) as string,
    rewriteDelivery: statement('UPDATE deliveries SET params = $1, last_error = $2 WHERE id = $3') as string,
    selectAttempts: statement(
      `SELECT id, error, response FROM delivery_attempts WHERE ${inList('delivery_id', '$1', 'bigint')}`,
    ) as string,
    rewriteAttempt: statement('UPDATE delivery_attempts SET error = $1, response = $2 WHERE id = $3') as string,
  };
}

type ErasureStatements = ReturnType<typeof erasureStatements>;

const jsonText = (value: Json | undefined) => (value === undefined || value === null ? null : JSON.stringify(value));

/** Erases `subject` everywhere it is stored; see the module's comment. */
export async function eraseSubject(
  on: { dialect: Dialect; sql: ErasureStatements },
  access: PruneAccess,
  subject: ErasureSubject,
  marker: string,
): Promise<ErasureCounts> {
  const needle = 'room' in subject ? subject.room : subject.participantIdentity;
  const sensitive = new Sensitive(marker, needle);
  const counts: ErasureCounts = { events: 0, outcomes: 0, deliveries: 0, attempts: 0, cancelled: 0 };
  const pattern = likeJsonString(needle);
  for (let after = 0; ; ) {
    const found = await access.read((db) => db.rows<EventRow>(on.sql.findEvents, [after, pattern, BATCH]));
    if (found.length === 0) return counts;
    after = Number(found.at(-1)!.seq);
    const rewritten = found.flatMap((row) => {
      const body = JSON.parse(row.body) as Json;
      if (!mentions(body, needle)) return [];
      return [{ ...row, body: eraseFields(body, subject, sensitive, marker) }];
    });
    if (rewritten.length === 0) continue;
    await access.write(async (db) => {
      for (const row of rewritten) {
        counts.events += await db.run(on.sql.rewriteBody, [JSON.stringify(sensitive.scrub(row.body)), row.seq]);
      }
      const eventIds = rewritten.map((row) => row.id);
      counts.outcomes += await eraseOutcomes(on.dialect, db, eventIds, sensitive);
      const error = JSON.stringify({ code: 'E_ERASED', message: 'the data it was for was erased' });
      counts.cancelled += await db.run(on.sql.cancelQueued, [error, new Date(), eventIds]);
      const rewrites = await eraseDeliveries(on, db, eventIds, sensitive);
      counts.deliveries += rewrites.deliveries;
      counts.attempts += rewrites.attempts;
    });
  }
}

async function eraseOutcomes(dialect: Dialect, db: Executor, eventIds: string[], sensitive: Sensitive): Promise<number> {
  let changed = 0;
  for (const id of eventIds) {
    const [row] = await db.rows<{ matched: unknown; actions: unknown }>(dialect.outcomes.selectEvent, [id]);
    if (!row) continue;
    const before = { matched: dialect.readJson<Json>(row.matched), actions: dialect.readJson<Json>(row.actions) };
    const after = sensitive.scrub(before) as typeof before;
    if (JSON.stringify(after) === JSON.stringify(before)) continue;
    await db.run(dialect.outcomes.save, [jsonText(after.matched), jsonText(after.actions), id]);
    changed += 1;
  }
  return changed;
}

async function eraseDeliveries(
  { dialect, sql }: { dialect: Dialect; sql: ErasureStatements },
  db: Executor,
  eventIds: string[],
  sensitive: Sensitive,
): Promise<{ deliveries: number; attempts: number }> {
  const deliveries = await db.rows<{ id: number; params: unknown; lastError: unknown }>(sql.selectDeliveries, [eventIds]);
  let changed = 0;
  for (const row of deliveries) {
    const params = dialect.readJson<Json>(row.params);
    const lastError = row.lastError == null ? null : dialect.readJson<Json>(row.lastError);
    const [newParams, newError] = [sensitive.scrub(params), sensitive.scrub(lastError)];
    if (JSON.stringify([newParams, newError]) === JSON.stringify([params, lastError])) continue;
    changed += await db.run(sql.rewriteDelivery, [JSON.stringify(newParams), jsonText(newError), row.id]);
  }
  if (deliveries.length === 0) return { deliveries: changed, attempts: 0 };
  const attempts = await db.rows<{ id: number; error: unknown; response: string | null }>(
    sql.selectAttempts,
    [deliveries.map((row) => row.id)],
  );
  let attemptsChanged = 0;
  for (const row of attempts) {
    const error = row.error == null ? null : dialect.readJson<Json>(row.error);
    const [newError, newResponse] = [sensitive.scrub(error), row.response === null ? null : sensitive.replace(row.response)];
    if (JSON.stringify([newError, newResponse]) === JSON.stringify([error, row.response])) continue;
    attemptsChanged += await db.run(sql.rewriteAttempt, [jsonText(newError), newResponse, row.id]);
  }
  return { deliveries: changed, attempts: attemptsChanged };
}
