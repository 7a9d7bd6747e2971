/**
 * The ingest pipeline for one event: dedupe, record, match, run inline actions and queue async ones, save what
 * happened, all in one transaction. Nothing is acknowledged that was not committed, and a redelivery runs nothing
 * again. Webhooks come in through `ingest`; Switchboard's own events (a dead delivery) join a worker's transaction
 * through `ingestWithin`.
 */
import { isSwitchboardError } from '../errors.ts';
import { buildContext, dedupeKey, eventCreatedAt } from '../livekit/event.ts';
import type { EventContext, LiveKitEvent } from '../livekit/event-types.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import type { CompiledAction, CompiledRule, RuleSet } from '../rules/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { ActionOutcome, OrderingEvent, Store, StoreTx } from '../store/store.ts';
import { delayBefore, retrySchedule } from './retry-schedule.ts';
import { describeFailure, invokePlugin, pluginContext, prepareAction } from './run-action.ts';

export interface IncomingEvent {
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
  matched: string[];
  actions: ActionOutcome[];
}

export interface IngestDependencies {
  store: Store;
  plugins: PluginRegistry;
  /** The rules in force now; read once per event so a reload never splits one. */
  currentRules: () => RuleSet;
  log: Logger;
  inlineActionTimeoutMs: number;
  asyncActionTimeoutMs: number;
  /** Told after a commit that queued deliveries, so a worker can pick them up at once. */
  onQueued?: () => void;
}

export interface Ingestion {
  ingest(incoming: IncomingEvent): Promise<IngestResult>;
  ingestWithin(tx: StoreTx, incoming: IncomingEvent): Promise<IngestResult>;
}

export function createIngestion(deps: IngestDependencies): Ingestion {
  async function ingestWithin(tx: StoreTx, incoming: IncomingEvent): Promise<IngestResult> {
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
    });
    if (recorded.duplicate) {
      return { event_id: eventId, event_type: event.event, duplicate: true, matched: [], actions: [] };
    }

    const ordering: OrderingEvent = { id: eventId, name: event.event, createdAt, seq: recorded.seq };
    const context = buildContext(event);
    const matchedRules = deps.currentRules().match(context);
    const actions: ActionOutcome[] = [];
    for (const rule of matchedRules) {
      for (const action of rule.actions) {
        const step = { tx, event, context, ordering, rule, action };
        actions.push(action.mode === 'inline' ? await runInline(step) : await enqueue(step));
      }
    }

    const matched = matchedRules.map((rule) => rule.id);
    await tx.saveOutcome(eventId, { matched, actions });
    return { event_id: eventId, event_type: event.event, duplicate: false, matched, actions };
  }

  interface Step {
    tx: StoreTx;
    event: LiveKitEvent;
    context: EventContext;
    ordering: OrderingEvent;
    rule: CompiledRule;
    action: CompiledAction;
  }

  /** Runs in its own savepoint: a failed action's writes are undone, the event and other actions are kept. */
  async function runInline({ tx, event, context, ordering, rule, action }: Step): Promise<ActionOutcome> {
    const prepared = prepareAction(deps.plugins, rule, action, context);
    if (!prepared.ready) return prepared.outcome;
    const outcome = { rule: rule.id, plugin: action.plugin };
    try {
      const result = await tx.savepoint(() =>
        invokePlugin(
          prepared.plugin,
          prepared.params,
          (signal) =>
            pluginContext(
              {
                event,
                eventId: ordering.id,
                ruleId: rule.id,
                actionIndex: action.index,
                mode: 'inline',
                attempt: 1,
                log: deps.log,
                transition: (request) => tx.transitionSession(request, ordering),
              },
              signal,
            ),
          action.timeoutMs ?? deps.inlineActionTimeoutMs,
        ),
      );
      return { ...outcome, status: 'succeeded', result };
    } catch (error) {
      if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
      return { ...outcome, status: 'failed', error: describeFailure(error) };
    }
  }

  /** Writes the delivery with the event; a worker runs it after the commit. */
  async function enqueue({ tx, context, ordering, rule, action }: Step): Promise<ActionOutcome> {
    const prepared = prepareAction(deps.plugins, rule, action, context);
    if (!prepared.ready) return prepared.outcome;
    const schedule = retrySchedule(action.retry);
    const deliveryId = await tx.enqueueDelivery({
      eventId: ordering.id,
      eventSeq: ordering.seq,
      eventName: ordering.name,
      ruleId: rule.id,
      actionIndex: action.index,
      plugin: action.plugin,
      params: prepared.params,
      target: prepared.plugin.definition.target?.(prepared.params) ?? action.plugin,
      orderingKey: action.orderingKey(context),
      maxAttempts: schedule.maxAttempts,
      retrySchedule: schedule.delays,
      timeoutMs: action.timeoutMs ?? deps.asyncActionTimeoutMs,
      dueAt: new Date(Date.now() + delayBefore(schedule.delays, 1)),
    });
    return { rule: rule.id, plugin: action.plugin, status: 'queued', result: { delivery_id: deliveryId } };
  }

  return {
    ingestWithin,
    async ingest(incoming) {
      const result = await deps.store.transaction((tx) => ingestWithin(tx, incoming));
      if (result.actions.some((action) => action.status === 'queued')) deps.onQueued?.();
      return result;
    },
  };
}
