/** SQL both stores write alike: delivery states as literals and the queue rules that are plain SQL in either dialect. */
import { UNFINISHED_STATES, type DeliveryState } from './delivery-state.ts';

export const SESSION_HISTORY_LIMIT = 100;

/** A state as an SQL literal; the parameter's type refuses a name that is not a state. */
export function state(name: DeliveryState): string {
  return `'${name}'`;
}

export function states(names: readonly DeliveryState[]): string {
  return names.map(state).join(', ');
}

/**
 * Where a delivery given back unfinished (deferred, or its worker shutting down) goes: pending if it was never tried,
 * otherwise waiting for a retry, so its state still says that attempts were spent.
 */
export const GIVEN_BACK_STATE = `CASE WHEN attempts > 0 THEN ${state('failed-waiting-retry')} ELSE ${state('pending')} END`;

/** A claim candidate waits while an earlier delivery of its ordering group is unfinished. */
export const FIRST_OF_ITS_GROUP = `NOT EXISTS (
            SELECT 1 FROM deliveries AS earlier
            WHERE earlier.rule_id = candidate.rule_id
              AND earlier.action_index = candidate.action_index
              AND earlier.ordering_key = candidate.ordering_key
              AND earlier.id < candidate.id
              AND earlier.state IN (${states(UNFINISHED_STATES)})
          )`;

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
        AND (${values.orderingKey} IS NULL OR NOT EXISTS (
          SELECT 1 FROM deliveries AS earlier
          WHERE earlier.rule_id = ${values.ruleId}
            AND earlier.action_index = ${values.actionIndex}
            AND earlier.ordering_key = ${values.orderingKey}
            AND earlier.state IN (${states(UNFINISHED_STATES)})
        ))`;
}
