/**
 * The states of a delivery and the moves between them, in one place. Stores persist these names; the worker and
 * the admin API move deliveries only along these edges.
 */
import type { ClaimedDelivery, Delivery } from './store.ts';

export const DELIVERY_STATES = ['pending', 'running', 'succeeded', 'failed-waiting-retry', 'dead', 'cancelled'] as const;

export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** States from which a worker may claim a delivery once it is due. */
export const CLAIMABLE_STATES: readonly DeliveryState[] = ['pending', 'failed-waiting-retry'];

/** States that hold back later deliveries of the same ordering group. */
export const UNFINISHED_STATES: readonly DeliveryState[] = ['pending', 'running', 'failed-waiting-retry'];

/** States an operator may replay from (succeeded only with force). */
export const REPLAYABLE_STATES: readonly DeliveryState[] = ['dead', 'cancelled', 'failed-waiting-retry', 'succeeded'];

/** The states a replay takes deliveries from: a succeeded one only when forced. */
export function replaySources(force: boolean | undefined): DeliveryState[] {
  return REPLAYABLE_STATES.filter((name) => force || name !== 'succeeded');
}

/** A count of zero for every state, for a tally to add to. */
export function zeroPerState(): Record<DeliveryState, number> {
  return Object.fromEntries(DELIVERY_STATES.map((name) => [name, 0])) as Record<DeliveryState, number>;
}

/** States an operator may cancel from. */
export const CANCELLABLE_STATES: readonly DeliveryState[] = ['pending', 'failed-waiting-retry'];

/** The order claimed deliveries are run in: earliest due first, then by id. */
export function byDueTimeThenId(a: Delivery, b: Delivery): number {
  return a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id;
}

/** A claimed delivery with its event's columns as the claim returned them (null when the event is not stored). */
export function withClaimedEvent(delivery: Delivery, body: string | null, createdAt: number | null): ClaimedDelivery {
  return { ...delivery, event: body === null ? null : { body, createdAt } };
}
