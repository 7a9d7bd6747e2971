/**
 * The states of a delivery and the moves between them, in one place. The stores' SQL takes each move's `from` states
 * from DELIVERY_MOVES, and the admin API checks against it, so a delivery moves only along these edges.
 */

export const DELIVERY_STATES = ['pending', 'running', 'succeeded', 'failed-waiting-retry', 'dead', 'cancelled'] as const;

export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface DeliveryMove {
  /** The states the move may start from; from any other it is refused and changes nothing. */
  from: readonly DeliveryState[];
  /** Where it leaves the delivery; two states when the delivery's history decides (see GIVEN_BACK). */
  to: readonly DeliveryState[];
}

/** Given back unfinished: pending if never tried, otherwise waiting for a retry, so its state says attempts were spent. */
const GIVEN_BACK: readonly DeliveryState[] = ['pending', 'failed-waiting-retry'];

/** Every move a delivery can make, by name. Queueing writes a new delivery pending, or running when leased at once. */
export const DELIVERY_MOVES = {
  /** A worker leases a due delivery. */
  claim: { from: ['pending', 'failed-waiting-retry'], to: ['running'] },
  /** A worker takes over a running delivery whose lease has expired (its worker died). */
  reclaim: { from: ['running'], to: ['running'] },
  /** The lease holder's attempt succeeded. */
  complete: { from: ['running'], to: ['succeeded'] },
  /** The lease holder's attempt failed with attempts left. */
  retry: { from: ['running'], to: ['failed-waiting-retry'] },
  /** The lease holder's attempt failed for good. */
  die: { from: ['running'], to: ['dead'] },
  /** The lease holder gives the delivery back without spending an attempt (a rate limit, an open circuit). */
  defer: { from: ['running'], to: GIVEN_BACK },
  /** A worker shutting down gives back every lease it holds. */
  release: { from: ['running'], to: GIVEN_BACK },
  /** An operator queues a finished delivery again, with fresh attempts. */
  replay: { from: ['dead', 'cancelled', 'failed-waiting-retry'], to: ['pending'] },
  /** A replay that also runs a succeeded delivery again: only when the operator forces it. */
  forcedReplay: { from: ['dead', 'cancelled', 'failed-waiting-retry', 'succeeded'], to: ['pending'] },
  /** An operator stops a delivery that is not running. */
  cancel: { from: ['pending', 'failed-waiting-retry'], to: ['cancelled'] },
} as const satisfies Record<string, DeliveryMove>;

export type DeliveryMoveName = keyof typeof DELIVERY_MOVES;

/** Whether `move` may start from `state`. */
export function canMove(move: DeliveryMoveName, state: DeliveryState): boolean {
  return (DELIVERY_MOVES[move].from as readonly DeliveryState[]).includes(state);
}

/** States from which a worker may claim a delivery once it is due. */
export const CLAIMABLE_STATES: readonly DeliveryState[] = DELIVERY_MOVES.claim.from;

/** States that hold back later deliveries of the same ordering group: not yet finished one way or another. */
export const UNFINISHED_STATES: readonly DeliveryState[] = DELIVERY_STATES.filter(
  (state) => canMove('claim', state) || canMove('reclaim', state),
);

/** States an operator may replay from (succeeded only with force). */
export const REPLAYABLE_STATES: readonly DeliveryState[] = DELIVERY_MOVES.forcedReplay.from;

/** States an operator may cancel from. */
export const CANCELLABLE_STATES: readonly DeliveryState[] = DELIVERY_MOVES.cancel.from;

/** The move a replay makes: a succeeded delivery is taken only when forced. */
export function replayMove(force: boolean | undefined): DeliveryMoveName {
  return force ? 'forcedReplay' : 'replay';
}

/** A count of zero for every state, for a tally to add to. */
export function zeroPerState(): Record<DeliveryState, number> {
  return Object.fromEntries(DELIVERY_STATES.map((name) => [name, 0])) as Record<DeliveryState, number>;
}
