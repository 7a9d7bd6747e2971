/**
 * The ingest pipeline for one event: dedupe, record, match, prepare actions (a plugin's `prepare`, e.g. recording
 * usage), run inline actions and queue async ones, save what happened, all in one transaction. Nothing is
 * acknowledged that was not committed, and a redelivery runs nothing again. Webhooks come in through `ingest`;
 * Switchboard's own events (a dead delivery, see dead-letter.ts) join a worker's transaction through
 * `ingestWithin`.
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
import type { PluginRegistry } from '../../plugins/registry.ts';
import { targetName } from '../../redaction.ts';
import type { CompiledAction, CompiledRule, RuleSet } from '../../rules/types.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { context, contextWithSpan, failSpan, INTERNAL, spanNames, traceContextOf, traceLogFields, tracer, type Context, type Span } from '../../telemetry/spans.ts';
import type { ActionOutcome, Delivery, DeliveryLease, NewDelivery, OrderingEvent, Store, StoreTx } from '../../store/store.ts';
import type { Cancellation } from '../action-deadline.ts';
import type { KnownEvent } from '../delivery/attempt.ts';
import type { Reservation } from '../delivery/handoff.ts';
import { delayBefore, retrySchedule } from '../delivery/retry-schedule.ts';
import { describeFailure, invokePlugin, invokePrepare, pluginContext, prepareContext, renderParams, type ActionParts } from '../run-action.ts';
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

/** A delivery offered to the worker while its transaction runs; settled once the transaction has. */
interface Handoff {
  reservation: Reservation;
  /** Null when the store wrote it pending after all (target disabled, ordering group busy). */
  delivery: Delivery | null;
  event: KnownEvent;
}

export interface Ingestion {
  /** `parent`: the context of the span the event's spans belong under (the webhook's server span). */
  ingest(incoming: IncomingEvent, parent: Context): Promise<IngestResult>;
  ingestWithin(tx: StoreTx, incoming: IncomingEvent, parent: Context): Promise<IngestResult>;
}

const actionSpanName = spanNames('action');

export function createIngestion(deps: IngestDependencies): Ingestion {
  const { metrics } = deps;

  /** `handoffs`: where deliveries leased to this process's worker are noted; without it, none are. */
  async function ingestWithin(tx: StoreTx, incoming: IncomingEvent, parent: Context, handoffs?: Handoff[]): Promise<IngestResult> {
    const { event } = incoming;
    const eventId = dedupeKey(event, incoming.body);
    const createdAt = eventCreatedAt(event);
    const recorded = await tx.recordEvent({
      id: eventId,
      name: event.event,
      createdAt,
      apiKey: incoming.apiKey,
      body: incoming.body.toString('utf8'),
      receivedAt: incoming.receivedAt,
      room: eventRoomName(event),
      participant: event.participant?.identity || null,
    });
    if (recorded.duplicate) {
      return { event_id: eventId, event_type: event.event, duplicate: true, matched: [], actions: [] };
    }

    const ordering: OrderingEvent = { id: eventId, name: event.event, createdAt, seq: recorded.seq };
    const change = pictureChange(event, createdAt, incoming.receivedAt);
    if (change !== undefined) {
      const { duplicateOf } = await tx.applyPictureChange(change, ordering);
      if (duplicateOf !== null) {
        await tx.saveOutcome(eventId, { matched: [], actions: [] });
        return { event_id: eventId, event_type: event.event, duplicate: true, duplicate_of: duplicateOf, matched: [], actions: [] };
      }
    }
    const eventContext = buildContext(event);
    const matchedRules = matchRules(eventContext, parent);
    const matched = matchedRules.map((rule) => rule.id);
    const actions: ActionOutcome[] = [];
    for (const rule of matchedRules) {
      metrics.ruleMatched(rule.id);
      for (const action of rule.actions) {
        const step = { tx, event, context: eventContext, ordering, rule, action, parent, handoffs };
        actions.push(action.mode === 'inline' ? await runInline(step) : await enqueue(step));
      }
    }

    await tx.saveOutcome(eventId, { matched, actions });
    return { event_id: eventId, event_type: event.event, duplicate: false, matched, actions };
  }

  function matchRules(eventContext: EventContext, parent: Context): CompiledRule[] {
    const span = tracer.startSpan('match rules', INTERNAL, parent);
    const matchedRules = deps.currentRules().match(eventContext);
    if (span.isRecording()) span.setAttribute('switchboard.rules.matched', matchedRules.map((rule) => rule.id));
    span.end();
    return matchedRules;
  }

  interface Step {
    tx: StoreTx;
    event: LiveKitEvent;
    context: EventContext;
    ordering: OrderingEvent;
    rule: CompiledRule;
    action: CompiledAction;
    parent: Context;
    handoffs: Handoff[] | undefined;
  }

  /** Runs in its own savepoint: a failed action's writes are undone, the event and other actions are kept. */
  async function runInline(step: Step): Promise<ActionOutcome> {
    const { rule, action } = step;
    const span = tracer.startSpan(actionSpanName(action.plugin), INTERNAL, step.parent);
    if (span.isRecording()) {
      span.setAttributes({
        'switchboard.rule.id': rule.id,
        'switchboard.action.index': action.index,
        'switchboard.action.mode': 'inline',
        'switchboard.plugin': action.plugin,
      });
    }
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

  /** Writes the delivery with the event; a worker runs it after the commit. */
  async function enqueue(step: Step): Promise<ActionOutcome> {
    const outcome = await writeDelivery(step);
    metrics.action(step.rule.id, step.action.plugin, 'async', outcome.status);
    return outcome;
  }

  async function writeDelivery(step: Step): Promise<ActionOutcome> {
    const { tx, context: eventContext, ordering, rule, action, parent } = step;
    const rendered = renderParams(deps.plugins, rule, action, eventContext);
    if (!rendered.ready) return rendered.outcome;
    const { plugin } = rendered;
    let params = rendered.params;
    if (plugin.definition.prepare !== undefined) {
      // In a savepoint of its own: a prepare that fails leaves nothing it recorded behind.
      const parts = actionParts(step, 'async');
      try {
        params = await tx.savepoint(() => invokePrepare(plugin, rendered.params, contextForPrepare(step, parts), deps.inlineActionTimeoutMs));
      } catch (error) {
        if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
        return { rule: rule.id, plugin: action.plugin, status: 'failed', error: describeFailure(error) };
      }
    }
    let routing: DeliveryRouting;
    try {
      routing = deliveryRouting(params, plugin.definition.target, action, eventContext);
    } catch (error) {
      return { rule: rule.id, plugin: action.plugin, status: 'failed', error: { code: 'E_ACTION_PARAMS_INVALID', message: (error as Error).message } };
    }
    const schedule = retrySchedule(action.retry);
    const sealed = sealParams(action, plugin, params);
    const queued: NewDelivery = {
      eventId: ordering.id,
      eventSeq: ordering.seq,
      eventName: ordering.name,
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
      traceContext: traceContextOf(parent),
    };
    // Due at once: this process's worker may take it over, saving a claim.
    const reservation = step.handoffs && queued.dueAt.getTime() <= Date.now() ? (deps.reserve?.(queued.target) ?? null) : null;
    const { id, leased } = await tx.enqueueDelivery(queued, reservation?.lease);
    if (reservation) {
      step.handoffs!.push({
        reservation,
        delivery: leased ? leasedDelivery(queued, id, reservation.lease) : null,
        event: { payload: step.event, ordering },
      });
    }
    return { rule: rule.id, plugin: action.plugin, status: 'queued', result: { delivery_id: id } };
  }

  function actionParts({ event, ordering, rule, action }: Step, mode: ActionMode): ActionParts {
    return { event, eventId: ordering.id, ruleId: rule.id, actionIndex: action.index, mode, log: deps.log };
  }

  /** The context of the action's `prepare`, whose usage ledger writes in the event's transaction. */
  function contextForPrepare({ tx, ordering, rule, action }: Step, parts: ActionParts): (cancel: Cancellation) => PrepareContext {
    const origin = { eventId: ordering.id, eventName: ordering.name, ruleId: rule.id, actionIndex: action.index };
    return (cancel) => prepareContext(parts, cancel, usageLedger(tx, origin, cancel));
  }

  return {
    ingestWithin,
    async ingest(incoming, parent) {
      const handoffs: Handoff[] = [];
      let result: IngestResult;
      try {
        result = await deps.store.transaction((tx) => ingestWithin(tx, incoming, parent, handoffs));
      } catch (error) {
        for (const handoff of handoffs) handoff.reservation.release();
        throw error;
      }
      let adopted = 0;
      for (const { reservation, delivery, event } of handoffs) {
        if (delivery === null) {
          reservation.release();
        } else {
          reservation.adopt(delivery, event);
          adopted += 1;
        }
      }
      const queued = result.actions.filter((action) => action.status === 'queued').length;
      if (queued > adopted) deps.onQueued?.();
      return result;
    },
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
