/** The delivery queue as operators see it: list, count, inspect with every attempt, replay, cancel. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { canMove, DELIVERY_MOVES, DELIVERY_STATES, REPLAYABLE_STATES, replayMove, type DeliveryState } from '../../store/delivery-state.ts';
import type { Delivery, DeliveryAttempt, DeliveryFilter, Store } from '../../store/store.ts';
import type { Actor } from './auth.ts';
import { redactError, redactParams } from './redact.ts';
import { ISO_TIME, NO_BODY, PAGE_QUERY, queryTime, route, type PageQuery, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

export interface DeliveryListFilter {
  status?: DeliveryState;
  rule?: string;
  target?: string;
  /** The event's id. */
  event?: string;
  /** ISO 8601 times, on when the delivery was created: `since` inclusive, `until` exclusive. */
  since?: string;
  until?: string;
}

const FILTER = {
  status: { type: 'string', enum: DELIVERY_STATES },
  rule: { type: 'string', minLength: 1 },
  target: { type: 'string', minLength: 1 },
  event: { type: 'string', minLength: 1 },
  since: ISO_TIME,
  until: ISO_TIME,
} as const;
/** Never everything by accident: a bulk change names what it changes. */
const NAMES_WHAT = ['status', 'rule', 'target', 'event', 'since', 'until'].map((key) => ({ required: [key] }));
const FORCE = { type: 'boolean', default: false } as const;
const DELIVERY_ID = { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } };

export function deliveryRoutes(router: Router, context: RouteContext, options: AdminRouteOptions): void {
  const { store } = options;
  route<Record<string, never>, DeliveryListFilter & PageQuery>(router, context, 'get', '/api/v1/deliveries', {
    query: { type: 'object', additionalProperties: false, properties: { ...FILTER, ...PAGE_QUERY } },
  }, async ({ query: { limit, cursor, ...filter } }) => deliveryPage(options, filter, { limit, cursor }));

  route<Record<string, never>, DeliveryListFilter>(router, context, 'get', '/api/v1/deliveries/count', {
    query: { type: 'object', additionalProperties: false, properties: FILTER },
  }, async ({ query }) => deliveryCounts(store, query));

  route<{ id: number }>(router, context, 'get', '/api/v1/deliveries/:id', { params: DELIVERY_ID }, async ({ params }) =>
    deliveryWithAttempts(options, params.id));

  route<{ id: number }, Record<string, never>, { force: boolean }>(router, context, 'post', '/api/v1/deliveries/:id/replay', {
    params: DELIVERY_ID,
    body: { type: 'object', additionalProperties: false, properties: { force: FORCE } },
  }, async ({ params: { id }, body: { force }, actor }) => ({ replayed: await replayDelivery(options, id, force, actor) }));

  route<Record<string, never>, Record<string, never>, DeliveryListFilter & { force: boolean }>(router, context, 'post', '/api/v1/deliveries/replay', {
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { ...FILTER, status: { type: 'string', enum: REPLAYABLE_STATES }, force: FORCE },
      anyOf: NAMES_WHAT,
    },
  }, async ({ body: { force, ...filter }, actor }) => {
    const replayed = await replayMatching(options, filter, force, actor);
    return { replayed, count: replayed.length };
  });

  route<Record<string, never>, Record<string, never>, DeliveryListFilter>(router, context, 'post', '/api/v1/deliveries/cancel', {
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { ...FILTER, status: { type: 'string', enum: DELIVERY_MOVES.cancel.from } },
      anyOf: NAMES_WHAT,
    },
  }, async ({ body: filter, actor }) => {
    const cancelled = await cancelMatching(store, filter, actor);
    return { cancelled, count: cancelled.length };
  });

  route<{ id: number }>(router, context, 'post', '/api/v1/deliveries/:id/cancel', { params: DELIVERY_ID, body: NO_BODY }, async ({ params: { id }, actor }) =>
    ({ cancelled: await cancelDelivery(options, id, actor) }));
}

/** Where a delivery's hold comes from: the targets' stored switches, and this process's circuits. */
type HoldSources = Pick<AdminRouteOptions, 'store' | 'guards'>;

/** Why a waiting delivery is not run now; `ordering`: an earlier delivery of its ordering group is unfinished. */
export type Hold = 'target-disabled' | 'circuit-open' | 'ordering';

/** One page of the queue, newest first, as the admin API and the dashboard show it. */
export async function deliveryPage(sources: HoldSources, filter: DeliveryListFilter, page: PageQuery) {
  const [{ items, nextCursor }, targetHoldOf] = await Promise.all([sources.store.listDeliveries(storeFilter(filter), page), targetHolds(sources)]);
  const holdOf = await withOrderingHolds(sources.store, items, targetHoldOf);
  return { deliveries: items.map((delivery) => deliveryView(delivery, holdOf(delivery))), next_cursor: nextCursor };
}

/** How many deliveries the filter matches, by state and in all. */
export async function deliveryCounts(store: Store, filter: DeliveryListFilter) {
  const by_state = await store.countDeliveries(storeFilter(filter));
  return { by_state, total: Object.values(by_state).reduce((sum, count) => sum + count, 0) };
}

export async function deliveryWithAttempts(sources: HoldSources, id: number) {
  const [delivery, targetHoldOf] = await Promise.all([findDelivery(sources.store, id), targetHolds(sources)]);
  const holdOf = await withOrderingHolds(sources.store, [delivery], targetHoldOf);
  return { ...deliveryView(delivery, holdOf(delivery)), attempts_log: delivery.attemptLog.map(attemptView) };
}

type HoldOf = (delivery: Delivery) => Hold | null;

/** What holds back each delivery now at its target: the target's switch first (an operator's word), then its circuit. */
async function targetHolds({ store, guards }: HoldSources): Promise<HoldOf> {
  const disabled = new Set((await store.listTargets()).filter((target) => target.disabled).map((target) => target.target));
  const open = new Set(guards.snapshot().filter((snapshot) => snapshot.circuit === 'open').map((snapshot) => snapshot.target));
  return (delivery) => {
    if (!canMove('claim', delivery.state)) return null;
    if (disabled.has(delivery.target)) return 'target-disabled';
    return open.has(delivery.target) ? 'circuit-open' : null;
  };
}

/** Then, for those of `deliveries` free at their target, an earlier unfinished delivery of their group: one query. */
async function withOrderingHolds(store: Store, deliveries: readonly Delivery[], targetHoldOf: HoldOf): Promise<HoldOf> {
  const waiting = deliveries.filter((delivery) => delivery.orderingKey !== null && canMove('claim', delivery.state) && targetHoldOf(delivery) === null);
  const behind = new Set(await store.listBehindTheirGroup(waiting.map((delivery) => delivery.id)));
  return (delivery) => targetHoldOf(delivery) ?? (behind.has(delivery.id) ? 'ordering' : null);
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

/** Cancels every delivery the filter matches that has not run yet, audited as one change. Returns their ids. */
export async function cancelMatching(store: Store, filter: DeliveryListFilter, actor: Actor): Promise<number[]> {
  return store.transaction(async (tx) => {
    const ids = await tx.cancelDeliveries(storeFilter(filter));
    if (ids.length > 0) {
      await tx.appendAudit({ action: 'deliveries.cancel', subject: `deliveries?${filterQuery(filter)}`, details: { filter, ids, actor } });
    }
    return ids;
  });
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

function storeFilter({ status, rule, target, event, since, until }: DeliveryListFilter): DeliveryFilter {
  return { state: status, rule, target, eventId: event, since: queryTime('since', since), until: queryTime('until', until) };
}

function deliveryView(delivery: Delivery, held: Hold | null) {
  return {
    id: delivery.id,
    state: delivery.state,
    held,
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
    last_error: redactError(delivery.lastError),
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
    error: redactError(attempt.error),
    response: attempt.response ?? null,
    succeeded: attempt.succeeded,
  };
}
