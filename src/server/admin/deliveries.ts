/** The delivery queue as operators see it: list, inspect with every attempt, replay, cancel. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { canMove, DELIVERY_STATES, REPLAYABLE_STATES, replayMove, type DeliveryState } from '../../store/delivery-state.ts';
import type { Delivery, DeliveryAttempt, DeliveryFilter, Store } from '../../store/store.ts';
import type { Actor } from './auth.ts';
import { redactParams } from './redact.ts';
import { NO_BODY, PAGE_QUERY, route, type PageQuery, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

export interface DeliveryListFilter {
  status?: DeliveryState;
  rule?: string;
  target?: string;
}

const FILTER = {
  status: { type: 'string', enum: DELIVERY_STATES },
  rule: { type: 'string', minLength: 1 },
  target: { type: 'string', minLength: 1 },
} as const;
const FORCE = { type: 'boolean', default: false } as const;
const DELIVERY_ID = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } };

export function deliveryRoutes(router: Router, context: RouteContext, options: AdminRouteOptions): void {
  const { store } = options;
  route<Record<string, never>, DeliveryListFilter & PageQuery>(router, context, 'get', '/api/v1/deliveries', {
    query: { type: 'object', additionalProperties: false, properties: { ...FILTER, ...PAGE_QUERY } },
  }, async ({ query: { limit, cursor, ...filter } }) => deliveryPage(store, filter, { limit, cursor }));

  route<{ id: number }>(router, context, 'get', '/api/v1/deliveries/:id', { params: DELIVERY_ID }, async ({ params }) =>
    deliveryWithAttempts(store, params.id));

  route<{ id: number }, Record<string, never>, { force: boolean }>(router, context, 'post', '/api/v1/deliveries/:id/replay', {
    params: DELIVERY_ID,
    body: { type: 'object', additionalProperties: false, properties: { force: FORCE } },
  }, async ({ params: { id }, body: { force }, actor }) => ({ replayed: await replayDelivery(options, id, force, actor) }));

  route<Record<string, never>, Record<string, never>, DeliveryListFilter & { force: boolean }>(router, context, 'post', '/api/v1/deliveries/replay', {
    // Never everything by accident: a bulk replay names what it replays.
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { ...FILTER, status: { type: 'string', enum: REPLAYABLE_STATES }, force: FORCE },
      anyOf: [{ required: ['status'] }, { required: ['rule'] }, { required: ['target'] }],
    },
  }, async ({ body: { force, ...filter }, actor }) => {
    const replayed = await replayMatching(options, filter, force, actor);
    return { replayed, count: replayed.length };
  });

  route<{ id: number }>(router, context, 'post', '/api/v1/deliveries/:id/cancel', { params: DELIVERY_ID, body: NO_BODY }, async ({ params: { id }, actor }) =>
    ({ cancelled: await cancelDelivery(options, id, actor) }));
}

/** One page of the queue, newest first, as the admin API and the dashboard show it. */
export async function deliveryPage(store: Store, filter: DeliveryListFilter, page: PageQuery) {
  const { items, nextCursor } = await store.listDeliveries(storeFilter(filter), page);
  return { deliveries: items.map(deliveryView), next_cursor: nextCursor };
}

export async function deliveryWithAttempts(store: Store, id: number) {
  const delivery = await findDelivery(store, id);
  return { ...deliveryView(delivery), attempts_log: delivery.attemptLog.map(attemptView) };
}

type Operators = Pick<AdminRouteOptions, 'store' | 'worker'>;

/** Re-queues one delivery with fresh attempts, audited; says why when it cannot. Returns the ids re-queued. */
export async function replayDelivery({ store, worker }: Operators, id: number, force: boolean, actor: Actor): Promise<number[]> {
  const replayed = await store.transaction(async (tx) => {
    const ids = await tx.replayDeliveries({ ids: [id] }, { force, now: new Date() });
    if (ids.length > 0) await tx.appendAudit({ action: 'delivery.replay', subject: `delivery/${id}`, details: { ids, force, actor } });
    return ids;
  });
  if (replayed.length > 0) worker.wake();
  else refuseReplay(await findDelivery(store, id), force);
  return replayed;
}

/** Re-queues every replayable delivery the filter matches, audited as one change. Returns the ids re-queued. */
export async function replayMatching({ store, worker }: Operators, filter: DeliveryListFilter, force: boolean, actor: Actor): Promise<number[]> {
  if (filter.status !== undefined && !canMove(replayMove(force), filter.status)) {
    throw new SwitchboardError('E_DELIVERY_SUCCEEDED', 'replaying succeeded deliveries runs them again: pass "force": true to mean it');
  }
  const replayed = await store.transaction(async (tx) => {
    const ids = await tx.replayDeliveries(storeFilter(filter), { force, now: new Date() });
    if (ids.length > 0) {
      await tx.appendAudit({ action: 'deliveries.replay', subject: `deliveries?${filterQuery(filter)}`, details: { filter, force, ids, actor } });
    }
    return ids;
  });
  if (replayed.length > 0) worker.wake();
  return replayed;
}

/**
 * Cancels a delivery that has not run yet, audited; says why when it cannot. The worker is woken: the delivery's
 * ordering group may have a next one, free to run now.
 */
export async function cancelDelivery({ store, worker }: Operators, id: number, actor: Actor): Promise<number[]> {
  const cancelled = await store.transaction(async (tx) => {
    const done = await tx.cancelDelivery(id);
    if (done) await tx.appendAudit({ action: 'delivery.cancel', subject: `delivery/${id}`, details: { ids: [id], actor } });
    return done;
  });
  if (!cancelled) {
    const { state } = await findDelivery(store, id);
    throw new SwitchboardError('E_DELIVERY_NOT_CANCELLABLE', `delivery ${id} is ${state}; only pending deliveries and those waiting for a retry can be cancelled`);
  }
  worker.wake();
  return [id];
}

async function findDelivery(store: Store, id: number) {
  const delivery = await store.getDelivery(id);
  if (!delivery) throw new SwitchboardError('E_NOT_FOUND', `no delivery ${id}`);
  return delivery;
}

/** Why the store replayed nothing; a delivery still pending is already queued, which is no error. */
function refuseReplay(delivery: Delivery, force: boolean): void {
  if (delivery.state === 'running') {
    throw new SwitchboardError('E_DELIVERY_RUNNING', `delivery ${delivery.id} is running now; replay it once its attempt has finished`);
  }
  if (!canMove(replayMove(force), delivery.state) && canMove('forcedReplay', delivery.state)) {
    throw new SwitchboardError('E_DELIVERY_SUCCEEDED', `delivery ${delivery.id} has succeeded; pass {"force": true} to run it again`);
  }
}

/** The filter as a query string of the keys it sets: `status=dead&rule=notify`. */
export function filterQuery(filter: DeliveryListFilter): URLSearchParams {
  return new URLSearchParams(Object.entries(filter).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function storeFilter({ status, rule, target }: DeliveryListFilter): DeliveryFilter {
  return { state: status, rule, target };
}

function deliveryView(delivery: Delivery) {
  return {
    id: delivery.id,
    state: delivery.state,
    event_id: delivery.eventId,
    event_type: delivery.eventName,
    rule: delivery.ruleId,
    action_index: delivery.actionIndex,
    plugin: delivery.plugin,
    target: delivery.target,
    ordering_key: delivery.orderingKey,
    attempts: delivery.attempts,
    max_attempts: delivery.maxAttempts,
    due_at: delivery.dueAt.toISOString(),
    last_error: delivery.lastError,
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
    params: redactParams(delivery.params),
  };
}

function attemptView(attempt: DeliveryAttempt) {
  return {
    number: attempt.number,
    started_at: attempt.startedAt.toISOString(),
    duration_ms: attempt.durationMs,
    status_code: attempt.statusCode ?? null,
    error: attempt.error ?? null,
    response: attempt.response ?? null,
    succeeded: attempt.succeeded,
  };
}
