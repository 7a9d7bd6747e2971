/**
 * The ingest pipeline for one event: dedupe, record, match, prepare actions (a plugin's `prepare`, e.g. recording
 * usage), run inline actions and queue async ones, save what happened, all in one transaction. Nothing is
 * acknowledged that was not committed, and a redelivery runs nothing again. Webhooks come in through `ingest`;
 * Switchboard's own events (a dead delivery, see dead-letter.ts) join a worker's transaction through
 * `ingestWithin`.
 *
 * The event is matched and its async actions made deliveries before the store is touched: the store is handed the
 * plan (StoreTx.recordIngest), in which only inline actions and prepares run inside the transaction. A redelivery
 * is matched for nothing, but none of its actions runs, and its matching is not traced.
 *
 * With `reserve` (the app passes it on SQLite), a delivery due at once may be handed to this process's worker
 * (the local hand-off, ../delivery/handoff.ts).
 *
 * Tracing: the caller names the parent context (a transaction may run in another caller's async context, so the
 * active one cannot be trusted here); rule matching and each inline action are its child spans, and each queued
 * delivery stores the parent's trace context so that its attempts continue the trace.
 */
import { isSwitchboardError } from '../../errors.ts';
import { buildContext, dedupeKey, eventCreatedAt, eventRoomName } from '../../livekit/event.ts';
import type { EventContext, LiveKitEvent } from '../../livekit/event-types.ts';
import type { ActionMode, PrepareContext } from '../../plugins/contract.ts';
import type { LoadedPlugin, PluginRegistry } from '../../plugins/registry.ts';
import { targetName } from '../../redaction.ts';
import type { CompiledAction, CompiledRule, RuleSet } from '../../rules/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { context, contextWithSpan, failSpan, INTERNAL, spanNames, traceContextOf, traceLogFields, tracer, type Context, type Span } from '../../telemetry/spans.ts';
import type {
  ActionOutcome,
  Delivery,
  DeliveryLease,
  IngestPlan,
  NewDelivery,
  OrderingEvent,
  PlannedAction,
  QueuedAction,
  RecordedIngest,
  Store,
  StoreTx,
} from '../../store/store.ts';
import type { Cancellation } from '../action-deadline.ts';
import type { Reservation } from '../delivery/handoff.ts';
import { delayBefore, retrySchedule } from '../delivery/retry-schedule.ts';
import {
  declaredTransition,
  describeFailure,
  invokePlugin,
  invokePrepare,
  pluginContext,
  prepareContext,
  renderParams,
  type ActionParts,
} from '../run-action.ts';
import { sealParams } from '../sealed-params.ts';
import { pictureChange } from '../reconcile/picture-change.ts';
import { deliveryRouting, type DeliveryRouting } from './delivery-routing.ts';
import { usageLedger } from './usage-ledger.ts';

interface IncomingEvent {
  /** The body exactly as received. */
  body: Buffer;
  event: LiveKitEvent;
  /** The API key that signed the delivery (`switchboard` for Switchboard's own events). */
  apiKey: string;
  receivedAt: Date;
}

export interface IngestResult {
  event_id: string;
  event_type: string;
  duplicate: boolean;
  /** The event that already started or ended the same resource (a real or a synthetic one): this one ran no rules. */
  duplicate_of?: string;
  matched: string[];
  actions: ActionOutcome[];
}

interface IngestDependencies {
  store: Store;
  plugins: PluginRegistry;
  /** The rules in force now; read once per event so a reload never splits one. */
  currentRules: () => RuleSet;
  log: Logger;
  metrics: Metrics;
  inlineActionTimeoutMs: number;
  asyncActionTimeoutMs: number;
  /** Told after a commit that queued deliveries its worker did not take over, so it can claim them at once. */
  onQueued?: () => void;
  /** Asks this process's worker to take a delivery being queued (DeliveryWorker.reserve). */
  reserve?: (target: string) => Reservation | null;
}

export interface Ingestion {
  /** `parent`: the context of the span the event's spans belong under (the webhook's server span). */
  ingest(incoming: IncomingEvent, parent: Context): Promise<IngestResult>;
  ingestWithin(tx: StoreTx, incoming: IncomingEvent, parent: Context): Promise<IngestResult>;
}

/** An event's ingest as planned before the store is touched, and how to read what the store wrote. */
interface PlannedIngest {
  plan: IngestPlan;
  /** `writing`: when the store began and ended writing the plan, the time of the inline actions it settled. */
  result(written: RecordedIngest, writing: Timing): IngestResult;
}

interface Timing {
  startTime: number;
  endTime: number;
}

/** The rules an event matched, and when matching began and ended (its span is made once the event is known new). */
interface Matching extends Timing {
  rules: CompiledRule[];
}

/** What each of an event's actions is planned with. */
interface ActionPlanning {
  event: LiveKitEvent;
  eventId: string;
  context: EventContext;
  rule: CompiledRule;
  action: CompiledAction;
  parent: Context;
  /** Where deliveries leased to this process's worker are noted; without it, none are. */
  reservations: Map<QueuedAction, Reservation> | null;
}

/** An action run in the event's transaction. */
interface Step extends ActionPlanning {
  tx: StoreTx;
  ordering: OrderingEvent;
}

const actionSpanName = spanNames('action');

export function createIngestion(deps: IngestDependencies): Ingestion {
  const { metrics } = deps;

  /**
   * Async actions become deliveries here, before any transaction; an inline action, or an async one whose plugin
   * has a `prepare`, becomes a step that runs in it (so that, on PostgreSQL, an event with neither is recorded in one
   * statement).
   */
  function planIngest(incoming: IncomingEvent, parent: Context, reservations: Map<QueuedAction, Reservation> | null): PlannedIngest {
    const { event } = incoming;
    const eventId = dedupeKey(event, incoming.body);
    const createdAt = eventCreatedAt(event);
    const context = buildContext(event);
    const matching = matchRules(context);
    const planned = matching.rules.flatMap((rule) =>
      rule.actions.map((action) => ({ rule, action, planned: planAction({ event, eventId, context, rule, action, parent, reservations }) })),
    );
    const matched = matching.rules.map((rule) => rule.id);
    const plan: IngestPlan = {
      event: {
        id: eventId,
        name: event.event,
        createdAt,
        apiKey: incoming.apiKey,
        body: incoming.body.toString('utf8'),
        receivedAt: incoming.receivedAt,
        room: eventRoomName(event),
        participant: event.participant?.identity || null,
      },
      change: pictureChange(event, createdAt, incoming.receivedAt) ?? null,
      matched,
      actions: planned.map((action) => action.planned),
    };
    const answer = { event_id: eventId, event_type: event.event };
    return {
      plan,
      result(written, writing) {
        if (!written.recorded) return { ...answer, duplicate: true, matched: [], actions: [] };
        if (written.duplicateOf !== null) {
          return { ...answer, duplicate: true, duplicate_of: written.duplicateOf, matched: [], actions: [] };
        }
        traceMatching(matching, parent);
        for (const rule of matching.rules) metrics.ruleMatched(rule.id);
        // Inline actions that ran as steps are traced and counted as they ran.
        planned.forEach(({ rule, action, planned: how }, index) => {
          const outcome = written.actions[index];
          if (action.mode !== 'inline') metrics.action(rule.id, action.plugin, 'async', outcome.status);
          else if (!('run' in how)) traceSettledInline(rule, action, outcome, parent, writing);
        });
        return { ...answer, duplicate: false, matched, actions: written.actions };
      },
    };
  }

  async function ingestWithin(tx: StoreTx, incoming: IncomingEvent, parent: Context): Promise<IngestResult> {
    const ingest = planIngest(incoming, parent, null);
    const startTime = now();
    const written = await tx.recordIngest(ingest.plan);
    return ingest.result(written, { startTime, endTime: now() });
  }

  function matchRules(eventContext: EventContext): Matching {
    const startTime = now();
    const rules = deps.currentRules().match(eventContext);
    return { rules, startTime, endTime: now() };
  }

  function traceMatching({ rules, startTime, endTime }: Matching, parent: Context): void {
    const span = tracer.startSpan('match rules', { ...INTERNAL, startTime }, parent);
    if (span.isRecording()) span.setAttribute('switchboard.rules.matched', rules.map((rule) => rule.id));
    span.end(endTime);
  }

  /**
   * An inline action settled without running in the transaction (a declared transition, a failed render): its span
   * covers the store's write, and it is counted like one that ran.
   */
  function traceSettledInline(rule: CompiledRule, action: CompiledAction, outcome: ActionOutcome, parent: Context, { startTime, endTime }: Timing): void {
    const span = tracer.startSpan(actionSpanName(action.plugin), { ...INTERNAL, startTime }, parent);
    if (span.isRecording()) {
      span.setAttributes({ ...inlineSpanAttributes(rule, action), 'switchboard.action.status': outcome.status });
    }
    if (outcome.error) failSpan(span, outcome.error);
    span.end(endTime);
    metrics.action(rule.id, action.plugin, 'inline', outcome.status);
  }

  function planAction(planning: ActionPlanning): PlannedAction {
    const { rule, action } = planning;
    if (action.mode === 'inline') return planInline(planning);
    const rendered = renderParams(deps.plugins, rule, action, planning.context);
    if (!rendered.ready) return rendered.outcome;
    const { plugin } = rendered;
    if (plugin.definition.prepare === undefined) return queueAction(planning, plugin, rendered.params);
    return {
      // In a savepoint of its own: a prepare that fails leaves nothing it recorded behind.
      run: async (tx, ordering) => {
        const step = { ...planning, tx, ordering };
        let params: Record<string, unknown>;
        try {
          const prepare = contextForPrepare(step, actionParts(step, 'async'));
          params = await tx.savepoint(() => invokePrepare(plugin, rendered.params, prepare, deps.inlineActionTimeoutMs));
        } catch (error) {
          if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
          return { rule: rule.id, plugin: action.plugin, status: 'failed', error: describeFailure(error) };
        }
        return queueAction(planning, plugin, params);
      },
    };
  }

  /**
   * A plugin that declares its transition (and has no `prepare`) is settled by the store with the event's writes;
   * any other inline action is a step that runs in the transaction.
   */
  function planInline(planning: ActionPlanning): PlannedAction {
    const { rule, action } = planning;
    const step = { run: (tx: StoreTx, ordering: OrderingEvent) => runInline({ ...planning, tx, ordering }) };
    const definition = deps.plugins.get(action.plugin)?.definition;
    if (definition?.transition === undefined || definition.prepare !== undefined) return step;
    const rendered = renderParams(deps.plugins, rule, action, planning.context);
    if (!rendered.ready) return rendered.outcome;
    try {
      return { transition: { rule: rule.id, plugin: action.plugin, request: declaredTransition(rendered.plugin, rendered.params) } };
    } catch (error) {
      return { rule: rule.id, plugin: action.plugin, status: 'failed', error: describeFailure(error) };
    }
  }

  /** Runs in its own savepoint: a failed action's writes are undone, the event and other actions are kept. */
  async function runInline(step: Step): Promise<ActionOutcome> {
    const { rule, action } = step;
    const span = tracer.startSpan(actionSpanName(action.plugin), INTERNAL, step.parent);
    if (span.isRecording()) span.setAttributes(inlineSpanAttributes(rule, action));
    let outcome: ActionOutcome;
    try {
      // The plugin runs with its span active, so whatever it traces joins the webhook's trace.
      outcome = await context.with(contextWithSpan(step.parent, span), () => runPlugin(step, span));
    } catch (error) {
      failSpan(span, error);
      span.end();
      throw error;
    }
    if (outcome.error) failSpan(span, outcome.error);
    if (span.isRecording()) span.setAttribute('switchboard.action.status', outcome.status);
    span.end();
    metrics.action(rule.id, action.plugin, 'inline', outcome.status);
    return outcome;
  }

  async function runPlugin(step: Step, span: Span): Promise<ActionOutcome> {
    const { tx, ordering, rule, action } = step;
    const rendered = renderParams(deps.plugins, rule, action, step.context);
    if (!rendered.ready) return rendered.outcome;
    const outcome = { rule: rule.id, plugin: action.plugin };
    const parts = { ...actionParts(step, 'inline'), logFields: traceLogFields(span) };
    const context = (cancel: Cancellation) =>
      pluginContext({ ...parts, attempt: 1, transition: (request) => tx.transitionSession(request, ordering) }, cancel);
    try {
      const { plugin } = rendered;
      const result = await tx.savepoint(async () => {
        const params = plugin.definition.prepare === undefined
          ? rendered.params
          : await invokePrepare(plugin, rendered.params, contextForPrepare(step, parts), deps.inlineActionTimeoutMs);
        return invokePlugin(plugin, params, context, action.timeoutMs ?? deps.inlineActionTimeoutMs);
      });
      return { ...outcome, status: 'succeeded', result };
    } catch (error) {
      if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
      return { ...outcome, status: 'failed', error: describeFailure(error) };
    }
  }

  /** The delivery an async action queues with the event; a worker runs it after the commit. */
  function queueAction(planning: ActionPlanning, plugin: LoadedPlugin, params: Record<string, unknown>): ActionOutcome | QueuedAction {
    const { rule, action, eventId, event, context: eventContext, reservations } = planning;
    let routing: DeliveryRouting;
    try {
      routing = deliveryRouting(params, plugin.definition.target, action, eventContext);
    } catch (error) {
      return { rule: rule.id, plugin: action.plugin, status: 'failed', error: { code: 'E_ACTION_PARAMS_INVALID', message: (error as Error).message } };
    }
    const schedule = retrySchedule(action.retry);
    const sealed = sealParams(action, plugin, params);
    const delivery: QueuedAction['delivery'] = {
      eventId,
      eventName: event.event,
      ruleId: rule.id,
      actionIndex: action.index,
      plugin: action.plugin,
      ...sealed,
      target: targetName(routing.target),
      orderingKey: routing.orderingKey,
      maxAttempts: schedule.maxAttempts,
      retrySchedule: schedule.delays,
      timeoutMs: action.timeoutMs ?? deps.asyncActionTimeoutMs,
      dueAt: new Date(Date.now() + delayBefore(schedule.delays, 1)),
      traceContext: traceContextOf(planning.parent),
    };
    // Due at once: this process's worker may take it over, saving a claim.
    if (reservations === null || delivery.dueAt.getTime() > Date.now()) return { delivery };
    const reservation = deps.reserve?.(delivery.target) ?? null;
    if (reservation === null) return { delivery };
    const queued = { delivery, lease: reservation.lease };
    reservations.set(queued, reservation);
    return queued;
  }

  function actionParts({ event, eventId, rule, action }: ActionPlanning, mode: ActionMode): ActionParts {
    return { event, eventId, ruleId: rule.id, actionIndex: action.index, mode, log: deps.log };
  }

  /** The context of the action's `prepare`, whose usage ledger writes in the event's transaction. */
  function contextForPrepare({ tx, ordering, rule, action }: Step, parts: ActionParts): (cancel: Cancellation) => PrepareContext {
    const origin = { eventId: ordering.id, eventName: ordering.name, ruleId: rule.id, actionIndex: action.index };
    return (cancel) => prepareContext(parts, cancel, usageLedger(tx, origin, cancel));
  }

  return {
    ingestWithin,
    async ingest(incoming, parent) {
      const reservations = new Map<QueuedAction, Reservation>();
      const ingest = planIngest(incoming, parent, deps.reserve ? reservations : null);
      let written: RecordedIngest;
      const startTime = now();
      try {
        written = await deps.store.recordIngest(ingest.plan);
      } catch (error) {
        for (const reservation of reservations.values()) reservation.release();
        throw error;
      }
      const result = ingest.result(written, { startTime, endTime: now() });
      let adopted = 0;
      if (written.recorded && written.duplicateOf === null) {
        const ordering: OrderingEvent = { id: result.event_id, name: result.event_type, createdAt: ingest.plan.event.createdAt, seq: written.seq };
        for (const { action, enqueued } of written.queued) {
          const reservation = reservations.get(action);
          if (reservation === undefined || !enqueued.leased) continue;
          reservations.delete(action);
          reservation.adopt(leasedDelivery({ ...action.delivery, eventSeq: written.seq }, enqueued.id, reservation.lease), {
            payload: incoming.event,
            ordering,
          });
          adopted += 1;
        }
      }
      // Written pending after all (target disabled, ordering group busy), or not at all.
      for (const reservation of reservations.values()) reservation.release();
      const queued = result.actions.filter((action) => action.status === 'queued').length;
      if (queued > adopted) deps.onQueued?.();
      return result;
    },
  };
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function inlineSpanAttributes(rule: CompiledRule, action: CompiledAction) {
  return {
    'switchboard.rule.id': rule.id,
    'switchboard.action.index': action.index,
    'switchboard.action.mode': 'inline',
    'switchboard.plugin': action.plugin,
  };
}

/** The delivery as the store wrote it under the lease. */
function leasedDelivery(queued: NewDelivery, id: number, lease: DeliveryLease): Delivery {
  const now = new Date();
  return {
    ...queued,
    id,
    state: 'running',
    attempts: 0,
    lastError: null,
    createdAt: now,
    updatedAt: now,
    leaseOwner: lease.owner,
    leaseExpiresAt: lease.expiresAt,
  };
}
