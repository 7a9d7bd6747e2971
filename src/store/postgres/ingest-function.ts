/**
 * An ingest in one round trip on PostgreSQL (docs/decisions/0009-postgres-ingest-round-trips.md): when every write of
 * an event is known before it is recorded (no inline action but declared session transitions, no `prepare`), one
 * call of a function that migration 16 installs (18 and 19 replace it) records the event, its picture change, its
 * deliveries, its transitions and its outcome, with no BEGIN and COMMIT around it.
 *
 * The function does what SqlTx.recordIngest does step by step (../sql/ingest-plan.ts), with the same statements as
 * they were at version 19: the event's insert and its tombstone's lookup (../sql/statements.ts), the edge's claim and
 * the picture's upsert (../sql/live-picture.ts), the ordering group's advisory lock and a session's lock and writes
 * (dialect.ts), and the delivery's insert. Its statements run in order, each on a fresh snapshot, as the
 * transaction's would; a change to one of those writes needs a migration that replaces the function, and a test
 * runs both ways on the same plans and compares what they wrote.
 */
import type { Executor } from '../sql/dialect.ts';
import { isActionStep, isPlannedTransition, isQueuedAction } from '../sql/ingest-plan.ts';
import type { Migration } from '../sql/migration.ts';
import { INITIAL_SESSION_STATUS, storableRequest } from '../sql/session-transition.ts';
import { SESSION_EVENT_UPDATE } from '../sql/statements.ts';
import { eventValues, json, jsonOrNull, orderingGroup } from '../sql/transaction.ts';
import type { ActionOutcome, IngestPlan, PlannedTransition, QueuedAction, RecordedIngest } from '../store.ts';

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
export function ingestFunction(version: 16 | 18 | 19): string {
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
  const create = { 16: 'CREATE', 18: 'CREATE OR REPLACE', 19: 'DROP FUNCTION switchboard_record_ingest;\n    CREATE' }[version];
  return `
    ${create} FUNCTION switchboard_record_ingest(
      p_event_id text, p_event_name text, p_created_at bigint, p_api_key text, p_body text, p_received_at timestamptz,
      p_room text, p_participant text,
      p_change_kind text, p_change_id text, p_change_edge text, p_change_once boolean, p_change_status text,
      p_change_at timestamptz, p_change_room_sid text, p_change_room_name text, p_change_identity text,
      p_change_info json,
      p_matched json, p_actions json[], p_positions integer[],
      p_rule_ids text[], p_action_indexes integer[], p_plugins text[], p_params json[], p_targets text[],
      p_ordering_keys text[], p_ordering_groups text[], p_max_attempts integer[], p_retry_schedules json[],
      p_timeouts_ms integer[], p_due_ats timestamptz[], p_trace_contexts json[], p_action_keys text[],
      p_queued_at timestamptz,${version < 19 ? '' : `
      p_transition_positions integer[], p_transition_rules text[], p_transition_plugins text[], p_transition_keys text[],
      p_transition_statuses text[], p_transition_froms json[],`}
      OUT recorded_seq bigint, OUT first_event_id text, OUT delivery_ids bigint[]${version < 19 ? '' : ', OUT action_outcomes json'}
    ) LANGUAGE plpgsql AS $$
    DECLARE
      outcomes json[] := p_actions;
      starts timestamptz := CASE WHEN p_change_edge = 'start' THEN p_change_at END;
      ends timestamptz := CASE WHEN p_change_edge = 'end' THEN p_change_at END;
      queued_id bigint;${version < 19 ? '' : `
      d integer := 1;
      t integer := 1;
      current_status text;
      current_created_at bigint;
      current_seq bigint;
      previous_status text;
      stale boolean;
      decided json;`}
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

${version < 19 ? deliveriesInTurn() : actionsInOrder()}
${version < 19 ? '' : `      action_outcomes := array_to_json(outcomes);`}
      UPDATE events SET matched = p_matched, actions = ${version < 19 ? 'array_to_json(outcomes)' : 'action_outcomes'} WHERE id = p_event_id;
    END;
    $$;
  `;
}

/** Delivery `i`'s insert under its ordering group's lock, its id added to the answer and its outcome to the event's. */
function queueDelivery(i: string): string {
  return `
        -- Held until commit: deliveries of one ordering group are written one transaction at a time.
        IF p_ordering_groups[${i}] IS NOT NULL THEN
          PERFORM pg_advisory_xact_lock(hashtextextended('switchboard.ordering:' || p_ordering_groups[${i}], 0));
        END IF;
        INSERT INTO deliveries (
          event_id, event_seq, event_name, rule_id, action_index, plugin, params, target, ordering_key, state,
          max_attempts, retry_schedule, timeout_ms, due_at, trace_context, created_at, updated_at, action_key
        ) VALUES (
          p_event_id, recorded_seq, p_event_name, p_rule_ids[${i}], p_action_indexes[${i}], p_plugins[${i}], p_params[${i}],
          p_targets[${i}], p_ordering_keys[${i}], 'pending', p_max_attempts[${i}], p_retry_schedules[${i}], p_timeouts_ms[${i}],
          p_due_ats[${i}], p_trace_contexts[${i}], p_queued_at, p_queued_at, p_action_keys[${i}]
        )
        RETURNING id INTO queued_id;
        delivery_ids := delivery_ids || queued_id;
        outcomes[p_positions[${i}]] := json_build_object('rule', p_rule_ids[${i}], 'plugin', p_plugins[${i}], 'status', 'queued',
          'result', json_build_object('delivery_id', queued_id));`;
}

/** Versions 16 and 18: the plan has no transitions, its deliveries are written in turn. */
function deliveriesInTurn(): string {
  return `
      delivery_ids := '{}';
      FOR i IN 1 .. coalesce(cardinality(p_rule_ids), 0) LOOP${queueDelivery('i')}
      END LOOP;
`;
}

/**
 * Version 19: deliveries and declared session transitions in the plan's order, so their locks are taken in the order
 * the step-by-step transaction takes them. A transition is decided as decideTransition decides it
 * (../sql/session-transition.ts) and written as the dialect's `sessions` writes it (dialect.ts), in a block of its
 * own as the transaction's savepoint: bad input (a key too long for the index) fails that action alone.
 */
function actionsInOrder(): string {
  const key = 'p_transition_keys[t]';
  const status = 'p_transition_statuses[t]';
  const decided = (newStatus: string, applied: boolean, reason?: string) =>
    `json_build_object('key', ${key}, 'old_status', previous_status, 'new_status', ${newStatus}, 'applied', ${applied}${reason === undefined ? '' : `, 'reason', '${reason}'`})`;
  const outcome = (fields: string) => `outcomes[i] := json_build_object('rule', p_transition_rules[t], 'plugin', p_transition_plugins[t], ${fields});`;
  return `
      delivery_ids := '{}';
      FOR i IN 1 .. coalesce(cardinality(p_actions), 0) LOOP
        IF p_positions[d] = i THEN${queueDelivery('d')}
          d := d + 1;
        ELSIF p_transition_positions[t] = i THEN
          BEGIN
            -- The session's row or, before its first transition, its key, locked until commit: transitions of one
            -- session take turns, each deciding on the status the one before it committed.
            SELECT status, event_created_at, event_seq INTO current_status, current_created_at, current_seq
            FROM sessions WHERE key = ${key} FOR UPDATE;
            IF NOT FOUND THEN
              PERFORM pg_advisory_xact_lock(hashtextextended('switchboard.session:' || ${key}, 0));
              SELECT status, event_created_at, event_seq INTO current_status, current_created_at, current_seq
              FROM sessions WHERE key = ${key} FOR UPDATE;
            END IF;
            previous_status := coalesce(current_status, '${INITIAL_SESSION_STATUS}');
            -- Older than the event that set the current status: by LiveKit's createdAt when both have one, then by seq.
            stale := current_status IS NOT NULL AND CASE
                WHEN p_created_at IS NOT NULL AND current_created_at IS NOT NULL AND p_created_at <> current_created_at
                THEN p_created_at < current_created_at
                ELSE recorded_seq < current_seq END;
            IF stale THEN
              decided := ${decided('previous_status', false, 'stale')};
            ELSIF p_transition_froms[t] IS NOT NULL AND NOT EXISTS (
                SELECT FROM json_array_elements_text(p_transition_froms[t]) AS guard (status) WHERE guard.status = previous_status) THEN
              decided := ${decided('previous_status', false, 'guard')};
            ELSE
              INSERT INTO sessions (key, status, event_id, event_created_at, event_seq, updated_at)
              VALUES (${key}, ${status}, p_event_id, p_created_at, recorded_seq, p_queued_at)
              ON CONFLICT (key) DO UPDATE SET ${SESSION_EVENT_UPDATE}, updated_at = excluded.updated_at;
              IF ${status} <> previous_status THEN
                INSERT INTO session_history (key, status, old_status, event_id, event_name, event_created_at, at)
                VALUES (${key}, ${status}, previous_status, p_event_id, p_event_name, p_created_at, p_queued_at);
              END IF;
              decided := ${decided(status, true)};
            END IF;
            ${outcome("'status', 'succeeded', 'result', decided")}
          EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
            ${outcome("'status', 'failed', 'error', json_build_object('code', 'E_PLUGIN_FAILED', 'message', SQLERRM)")}
          END;
          t := t + 1;
        END IF;
      END LOOP;
`;
}

export const INGEST_FUNCTION_MIGRATION: Migration = { version: 16, name: 'ingest_in_one_statement', sql: ingestFunction(16) };

export const TRANSITIONS_IN_INGEST_MIGRATION: Migration = {
  version: 19,
  name: 'declared_transitions_in_ingest',
  sql: ingestFunction(19),
};

const RECORD_INGEST = {
  name: 'switchboard_recordIngest',
  text: `SELECT recorded_seq AS seq, first_event_id AS "duplicateOf", delivery_ids AS "deliveryIds", action_outcomes AS actions
    FROM switchboard_record_ingest(${Array.from({ length: 41 }, (_, index) => `$${index + 1}`).join(', ')})`,
};

/**
 * Whether the plan's writes are all known beforehand: no step runs in its transaction (declared transitions are
 * known writes), no delivery asks for a lease.
 */
export function inOneStatement(plan: IngestPlan): boolean {
  return plan.actions.every((action) => !isActionStep(action) && (!isQueuedAction(action) || action.lease === undefined));
}

/** StoreTx.recordIngest in one statement, for a plan `inOneStatement` accepts. */
export async function recordIngestInOneStatement(db: Executor, plan: IngestPlan): Promise<RecordedIngest> {
  const queued = plan.actions.filter(isQueuedAction);
  const [row] = await db.rows<{ seq: number | null; duplicateOf: string | null; deliveryIds: string[] | null; actions: ActionOutcome[] | null }>(
    RECORD_INGEST,
    ingestValues(plan, queued),
  );
  if (row.seq === null) return { recorded: false };
  if (row.duplicateOf !== null) return { recorded: true, seq: row.seq, duplicateOf: row.duplicateOf };
  // bigint[] comes back as text: the driver reads plain numbers only for a bigint alone (connection.ts).
  const ids = row.deliveryIds!.map(Number);
  return {
    recorded: true,
    seq: row.seq,
    duplicateOf: null,
    actions: row.actions!,
    queued: queued.map((action, index) => ({ action, enqueued: { id: ids[index], leased: false } })),
  };
}

/** The function's parameters, in its order. */
function ingestValues({ event, change, matched, actions }: IngestPlan, queued: QueuedAction[]): unknown[] {
  const deliveries = queued.map((action) => action.delivery);
  const each = <T>(value: (delivery: QueuedAction['delivery']) => T) => deliveries.map(value);
  const transitions = actions.filter(isPlannedTransition).map(({ transition }) => ({ ...transition, request: storableRequest(transition.request) }));
  const eachTransition = <T>(value: (transition: PlannedTransition['transition']) => T) => transitions.map(value);
  const positionsOf = (kind: (action: IngestPlan['actions'][number]) => boolean) =>
    actions.flatMap((action, index) => (kind(action) ? [index + 1] : []));
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
    actions.map((action) => (isQueuedAction(action) || isPlannedTransition(action) ? null : json(action))),
    positionsOf(isQueuedAction),
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
    positionsOf(isPlannedTransition),
    eachTransition((transition) => transition.rule),
    eachTransition((transition) => transition.plugin),
    eachTransition((transition) => transition.request.key),
    eachTransition((transition) => transition.request.status),
    eachTransition(({ request }) => jsonOrNull(request.from)),
  ];
}
