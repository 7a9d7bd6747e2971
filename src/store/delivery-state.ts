/**
 * The states of a delivery and the moves between them, in one place. Stores persist these names; the worker and
 * the admin API move deliveries only along these edges.
 */
export const DELIVERY_STATES = ['pending', 'running', 'succeeded', 'failed-waiting-retry', 'dead', 'cancelled'] as const;

export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** States from which a worker may claim a delivery once it is due. */
export const CLAIMABLE_STATES: readonly DeliveryState[] = ['pending', 'failed-waiting-retry'];

/** States that hold back later deliveries of the same ordering group. */
export const UNFINISHED_STATES: readonly DeliveryState[] = ['pending', 'running', 'failed-waiting-retry'];

/** States an operator may replay from (succeeded only with force). */
export const REPLAYABLE_STATES: readonly DeliveryState[] = ['dead', 'cancelled', 'failed-waiting-retry', 'succeeded'];

/** States an operator may cancel from. */
export const CANCELLABLE_STATES: readonly DeliveryState[] = ['pending', 'failed-waiting-retry'];
