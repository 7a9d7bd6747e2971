/**
 * An async action's delivery, checked before the store is touched: its params must serialise, and its target and
 * ordering key must be values every store can index. The values come from end users (participant metadata, room
 * names), so a failure here fails this action alone (E_ACTION_PARAMS_INVALID) without a savepoint, a round trip
 * on PostgreSQL that the normal case would pay for nothing.
 */
import { createHash } from 'node:crypto';
import type { EventContext } from '../../livekit/event-types.ts';
import { nestsDeeperThan } from '../../plain-object.ts';
import type { CompiledAction } from '../../rules/types.ts';

/** Deeper params would overflow the call stack of JSON.stringify (a few thousand levels) or of their readers. */
export const ACTION_PARAMS_MAX_DEPTH = 64;
/**
 * An ordering key longer than this is kept as its digest: a PostgreSQL index entry holds at most about 2.7 kB, and
 * keys of one group stay equal either way.
 */
export const ORDERING_KEY_MAX_CHARS = 256;

export interface DeliveryRouting {
  target: string;
  orderingKey: string | null;
}

/** Throws when the params cannot be stored, or when the plugin's `target` or the ordering template fails on them. */
export function deliveryRouting(
  params: unknown,
  target: ((params: never) => string) | undefined,
  action: CompiledAction,
  context: EventContext,
): DeliveryRouting {
  if (nestsDeeperThan(params, ACTION_PARAMS_MAX_DEPTH)) {
    throw new Error(`the action's params nest more than ${ACTION_PARAMS_MAX_DEPTH} levels deep`);
  }
  const orderingKey = action.orderingKey(context);
  return {
    target: target?.(params as never) ?? action.plugin,
    orderingKey:
      orderingKey !== null && orderingKey.length > ORDERING_KEY_MAX_CHARS
        ? `sha256:${createHash('sha256').update(orderingKey).digest('hex')}`
        : orderingKey,
  };
}
