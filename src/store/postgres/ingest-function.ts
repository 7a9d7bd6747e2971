/**
 * An ingest in one round trip on PostgreSQL (docs/decisions/0009-postgres-ingest-round-trips.md): when every write of
 * an event is known before it is recorded (no inline action, no `prepare`), one call of a function that migration 16
 * installs (and 18 replaces) records the event, its picture change, its deliveries and its outcome, with no BEGIN and
 * COMMIT around it.
 *
 * The function does what SqlTx.recordIngest does step by step (../sql/ingest-plan.ts), with the same statements as
 * they were at version 18: the event's insert and its tombstone's lookup (../sql/statements.ts), the edge's claim and
 * the picture's upsert (../sql/live-picture.ts), the ordering group's advisory lock (dialect.ts) and the delivery's
 * insert. Its statements run in order, each on a fresh snapshot, as the transaction's would; a change to one of those
 * writes needs a migration that replaces the function, and a test runs both ways on the same plans and compares what
 * they wrote.
 */
import type { Executor } from '../sql/dialect.ts';
import { isQueuedAction, queuedOutcome } from '../sql/ingest-plan.ts';
import type { Migration } from '../sql/migration.ts';
import { eventValues, json, jsonOrNull, orderingGroup } from '../sql/transaction.ts';
import type { ActionOutcome, IngestPlan, QueuedAction, RecordedIngest } from '../store.ts';

/** `newer(table)`: the row being written (`excluded`) is of an event no older than the one `table` holds. */
const NEWER = (table: string) =>
  `(${table}.event_created_at IS NULL OR excluded.event_created_at IS NULL OR excluded.event_created_at >= ${table}.event_created_at)`;
const IF_NEWER = (table: string, columns: string[]) =>
  columns.map((column) => `${column} = CASE WHEN ${NEWER(table)} THEN excluded.${column} ELSE ${table}.${column} END`).join(',\n          ');

/**
 * The function as `version` installs it: from 18 on, an event whose id is a tombstone (pruned inside the dedupe
 * window) is a redelivery, its insert undone.
 *
 * Parameters in the order of `ingestValues`; the deliveries' are arrays, one element per delivery, and p_positions
 * says where in p_actions (null there) each one's outcome goes. Returns a null seq when the event was recorded before,
 * and the id of the event that claimed the edge first when it is a duplicate start or end.
 */
export function ingestFunction(version: 16 | 18): string {
  const tombstoned =
    version < 18
      ? ''
      : `
      -- After the insert, which waits for a prune batch deleting this id to commit: this statement sees its tombstone.
      PERFORM 1 FROM event_tombstones WHERE id = p_event_id;
      IF FOUND THEN
        DELETE FROM events WHERE seq = recorded_seq;
        recorded_seq := NULL;
        RETURN;
      END IF;
`;
  return `
    ${version < 18 ? 'CREATE' : 'CREATE OR REPLACE'} FUNCTION switchboard_record_ingest(
      p_event_id text, p_event_name text, p_created_at bigint, p_api_key text, p_body text, p_received_at timestamptz,
      p_room text, p_participant text,
      p_change_kind text, p_change_id text, p_change_edge text, p_change_once boolean, p_change_status text,
      p_change_at timestamptz, p_change_room_sid text, p_change_room_name text, p_change_identity text,
      p_change_info json,
      p_matched json, p_actions json[], p_positions integer[],
      p_rule_ids text[], p_action_indexes integer[], p_plugins text[], p_params json[], p_targets text[],
      p_ordering_keys text[], p_ordering_groups text[], p_max_attempts integer[], p_retry_schedules json[],
      p_timeouts_ms integer[], p_due_ats timestamptz[], p_trace_contexts json[], p_action_keys text[],
      p_queued_at timestamptz,
      OUT recorded_seq bigint, OUT first_event_id text, OUT delivery_ids bigint[]
    ) LANGUAGE plpgsql AS $$
    DECLARE
      outcomes json[] := p_actions;
      starts timestamptz := CASE WHEN p_change_edge = 'start' THEN p_change_at END;
      ends timestamptz := CASE WHEN p_change_edge = 'end' THEN p_change_at END;
      queued_id bigint;
    BEGIN
      -- A concurrent insert of the same id waits for the first: if it commits, this one does nothing.
      INSERT INTO events (id, name, created_at, api_key, body, received_at, room, participant)
      VALUES (p_event_id, p_event_name, p_created_at, p_api_key, p_body, p_received_at, p_room, p_participant)
      ON CONFLICT (id) DO NOTHING
      RETURNING seq INTO recorded_seq;
      IF recorded_seq IS NULL THEN
        RETURN;
      END IF;
${tombstoned}
      IF p_change_kind IS NOT NULL THEN
        IF p_change_edge IS NOT NULL AND p_change_once THEN
          INSERT INTO resource_edges (kind, sid, edge, room_sid, event_id)
          VALUES (p_change_kind, p_change_id, p_change_edge, p_change_room_sid, p_event_id)
          ON CONFLICT (kind, sid, edge) DO NOTHING;
          IF NOT FOUND THEN
            -- The events table's default outcome is the empty one a duplicate has.
            SELECT event_id INTO first_event_id FROM resource_edges
            WHERE kind = p_change_kind AND sid = p_change_id AND edge = p_change_edge;
            RETURN;
          END IF;
        END IF;
        IF p_change_kind = 'room' THEN
          INSERT INTO rooms (sid, name, status, started_at, finished_at, info, event_created_at, event_seq)
          VALUES (p_change_id, p_change_room_name, p_change_status, starts, ends, p_change_info, p_created_at, recorded_seq)
          ON CONFLICT (sid) DO UPDATE SET
          started_at = COALESCE(rooms.started_at, excluded.started_at),
          finished_at = COALESCE(rooms.finished_at, excluded.finished_at),
          ${IF_NEWER('rooms', ['status', 'info', 'event_created_at', 'event_seq'])};
        ELSIF p_change_kind = 'participant' THEN
          INSERT INTO room_participants (sid, room_sid, identity, status, joined_at, left_at, info, event_created_at, event_seq)
          VALUES (p_change_id, p_change_room_sid, p_change_identity, p_change_status, starts, ends, p_change_info,
            p_created_at, recorded_seq)
          ON CONFLICT (sid) DO UPDATE SET
          joined_at = COALESCE(room_participants.joined_at, excluded.joined_at),
          left_at = COALESCE(room_participants.left_at, excluded.left_at),
          info = COALESCE(room_participants.info, excluded.info),
          ${IF_NEWER('room_participants', ['status', 'event_created_at', 'event_seq'])};
        ELSE
          INSERT INTO room_streams (kind, id, room_sid, room_name, status, started_at, ended_at, event_created_at, event_seq)
          VALUES (p_change_kind, p_change_id, p_change_room_sid, p_change_room_name, p_change_status, starts, ends,
            p_created_at, recorded_seq)
          ON CONFLICT (kind, id) DO UPDATE SET
          started_at = COALESCE(room_streams.started_at, excluded.started_at),
          ended_at = COALESCE(room_streams.ended_at, excluded.ended_at),
          ${IF_NEWER('room_streams', ['status', 'event_created_at', 'event_seq'])};
        END IF;
      END IF;

      delivery_ids := '{}';
      FOR i IN 1 .. coalesce(cardinality(p_rule_ids), 0) LOOP
        -- Held until commit: deliveries of one ordering group are written one transaction at a time.
        IF p_ordering_groups[i] IS NOT NULL THEN
          PERFORM pg_advisory_xact_lock(hashtextextended('switchboard.ordering:' || p_ordering_groups[i], 0));
        END IF;
        INSERT INTO deliveries (
          event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key, state,
          max_attempts, retry_schedule, timeout_ms, due_at, trace_context, created_at, updated_at, action_key
        ) VALUES (
          p_event_id, recorded_seq, p_event_name, p_rule_ids[i], p_action_indexes[i], p_plugins[i], p_params[i],
          p_targets[i], p_ordering_keys[i], 'pending', p_max_attempts[i], p_retry_schedules[i], p_timeouts_ms[i],
          p_due_ats[i], p_trace_contexts[i], p_queued_at, p_queued_at, p_action_keys[i]
        )
        RETURNING id INTO queued_id;
        delivery_ids := delivery_ids || queued_id;
        outcomes[p_positions[i]] := json_build_object('rule', p_rule_ids[i], 'plugin', p_plugins[i], 'status', 'queued',
          'result', json_build_object('delivery_id', queued_id));
      END LOOP;

      UPDATE events SET matched = p_matched, actions = array_to_json(outcomes) WHERE id = p_event_id;
    END;
    $$;
  `;
}

export const INGEST_FUNCTION_MIGRATION: Migration = { version: 16, name: 'ingest_in_one_statement', sql: ingestFunction(16) };

const RECORD_INGEST = {
  name: 'switchboard_recordIngest',
  text: `SELECT recorded_seq AS seq, first_event_id AS "duplicateOf", delivery_ids AS "deliveryIds"
    FROM switchboard_record_ingest(${Array.from({ length: 35 }, (_, index) => `$${index + 1}`).join(', ')})`,
};

/** Whether the plan's writes are all known beforehand: no step runs in its transaction, no delivery asks for a lease. */
export function inOneStatement(plan: IngestPlan): boolean {
  return plan.actions.every((action) => !('run' in action) && (!isQueuedAction(action) || action.lease === undefined));
}

/** StoreTx.recordIngest in one statement, for a plan `inOneStatement` accepts. */
export async function recordIngestInOneStatement(db: Executor, plan: IngestPlan): Promise<RecordedIngest> {
  const queued = plan.actions.filter(isQueuedAction);
  const [row] = await db.rows<{ seq: number | null; duplicateOf: string | null; deliveryIds: string[] | null }>(
    RECORD_INGEST,
    ingestValues(plan, queued),
  );
  if (row.seq === null) return { recorded: false };
  if (row.duplicateOf !== null) return { recorded: true, seq: row.seq, duplicateOf: row.duplicateOf };
  // bigint[] comes back as text: the driver reads plain numbers only for a bigint alone (connection.ts).
  const ids = row.deliveryIds!.map(Number);
  const enqueued = new Map(queued.map((action, index) => [action, { id: ids[index], leased: false }]));
  return {
    recorded: true,
    seq: row.seq,
    duplicateOf: null,
    actions: plan.actions.map((action) =>
      isQueuedAction(action) ? queuedOutcome(action.delivery, enqueued.get(action)!.id) : (action as ActionOutcome),
    ),
    queued: queued.map((action) => ({ action, enqueued: enqueued.get(action)! })),
  };
}

/** The function's parameters, in its order. */
function ingestValues({ event, change, matched, actions }: IngestPlan, queued: QueuedAction[]): unknown[] {
  const deliveries = queued.map((action) => action.delivery);
  const each = <T>(value: (delivery: QueuedAction['delivery']) => T) => deliveries.map(value);
  const positions: number[] = [];
  actions.forEach((action, index) => {
    if (isQueuedAction(action)) positions.push(index + 1);
  });
  return [
    ...eventValues(event),
    change?.kind ?? null,
    change?.id ?? null,
    change?.edge ?? null,
    change?.once ?? null,
    change?.status ?? null,
    change?.at ?? null,
    change?.room.sid ?? null,
    change?.room.name ?? null,
    change === null ? null : (change.identity ?? ''),
    jsonOrNull(change?.info),
    json(matched),
    actions.map((action) => (isQueuedAction(action) ? null : json(action))),
    positions,
    each((delivery) => delivery.ruleId),
    each((delivery) => delivery.actionIndex),
    each((delivery) => delivery.plugin),
    each((delivery) => json(delivery.params)),
    each((delivery) => delivery.target),
    each((delivery) => delivery.orderingKey),
    each(orderingGroup),
    each((delivery) => delivery.maxAttempts),
    each((delivery) => json(delivery.retrySchedule)),
    each((delivery) => delivery.timeoutMs),
    each((delivery) => delivery.dueAt),
    each((delivery) => jsonOrNull(delivery.traceContext)),
    each((delivery) => delivery.actionKey ?? null),
    new Date(),
  ];
}
