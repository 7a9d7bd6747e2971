/** The delivery moves and queue rules as SQL, the same in either dialect: states as literals, taken from DELIVERY_MOVES. */
import { DELIVERY_MOVES, UNFINISHED_STATES, type DeliveryMoveName, type DeliveryState } from '../delivery-state.ts';

/** A state as an SQL literal; the parameter's type refuses a name that is not a state. */
export function state(name: DeliveryState): string {
  return `'${name}'`;
}

export function states(names: readonly DeliveryState[]): string {
  return names.map(state).join(', ');
}

/** The condition that `column` holds a state `move` may start from (`=` for a single state, as the planners like). */
export function movableBy(move: DeliveryMoveName, column = 'state'): string {
  const from: readonly DeliveryState[] = DELIVERY_MOVES[move].from;
  return from.length === 1 ? `${column} = ${state(from[0])}` : `${column} IN (${states(from)})`;
}

/**
 * Where a delivery given back unfinished (deferred, or its worker shutting down) goes: pending if it was never tried,
 * otherwise waiting for a retry, so its state still says that attempts were spent.
 */
export const GIVEN_BACK_STATE = `CASE WHEN attempts > 0 THEN ${state('failed-waiting-retry')} ELSE ${state('pending')} END`;

/**
 * An unfinished delivery of the ordering group named by these SQL expressions exists (`alsoWhere`: a further
 * condition on it, `earlier`).
 */
function unfinishedInGroup(group: { ruleId: string; actionIndex: string; orderingKey: string }, alsoWhere = ''): string {
  return `EXISTS (
            SELECT 1 FROM deliveries AS earlier
            WHERE earlier.rule_id = ${group.ruleId}
              AND earlier.action_index = ${group.actionIndex}
              AND earlier.ordering_key = ${group.orderingKey}${alsoWhere}
              AND earlier.state IN (${states(UNFINISHED_STATES)})
          )`;
}

/** An earlier delivery of the ordering group of `candidate` is unfinished: while so, the candidate waits. */
export const BEHIND_ITS_GROUP = unfinishedInGroup(
  { ruleId: 'candidate.rule_id', actionIndex: 'candidate.action_index', orderingKey: 'candidate.ordering_key' },
  '\n              AND earlier.id < candidate.id',
);

/** A claim candidate waits while an earlier delivery of its ordering group is unfinished. */
export const FIRST_OF_ITS_GROUP = `NOT ${BEHIND_ITS_GROUP}`;

/**
 * Whether a delivery being queued with a lease may be written already running (DeliveryLease): the lease was asked
 * for, the target is not disabled, and no delivery of its ordering group is unfinished. The arguments are the
 * placeholders, or SQL, of those values; `disabledTarget` is the condition on `targets` that means disabled.
 */
export function leaseGranted(values: {
  owner: string;
  target: string;
  ruleId: string;
  actionIndex: string;
  orderingKey: string;
  disabledTarget: string;
}): string {
  return `${values.owner} IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM targets WHERE target = ${values.target} AND ${values.disabledTarget})
        AND (${values.orderingKey} IS NULL OR NOT ${unfinishedInGroup(values)})`;
}
