/**
 * The ingest pipeline for one verified delivery: dedupe, record, match, run inline actions, save what happened,
 * all in one transaction. Nothing is acknowledged that was not committed, and a redelivery runs nothing again.
 */
import { buildContext, dedupeKey, eventCreatedAt } from '../livekit/event.ts';
import type { LiveKitEvent } from '../livekit/event-types.ts';
import type { PluginContext } from '../plugins/contract.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import type { RuleSet } from '../rules/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { ActionOutcome, OrderingEvent, Store, StoreTx } from '../store/store.ts';
import { runAction } from './run-action.ts';

export interface VerifiedDelivery {
  /** The body exactly as received. */
  body: Buffer;
  event: LiveKitEvent;
  /** The API key that signed the delivery. */
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
  /** The rules in force now; read once per delivery so a reload never splits one. */
  currentRules: () => RuleSet;
  log: Logger;
  inlineActionTimeoutMs: number;
}

export type Ingest = (delivery: VerifiedDelivery) => Promise<IngestResult>;

export function createIngest(deps: IngestDependencies): Ingest {
  return async function ingest(delivery) {
    const { event } = delivery;
    const eventId = dedupeKey(event, delivery.body);
    const createdAt = eventCreatedAt(event);
    const context = buildContext(event);
    const rules = deps.currentRules();

    return deps.store.transaction(async (tx) => {
      const recorded = await tx.recordEvent({
        id: eventId,
        name: event.event,
        createdAt,
        apiKey: delivery.apiKey,
        body: delivery.body.toString('utf8'),
        receivedAt: delivery.receivedAt,
      });
      if (recorded.duplicate) {
        return { event_id: eventId, event_type: event.event, duplicate: true, matched: [], actions: [] };
      }

      const ordering: OrderingEvent = { id: eventId, name: event.event, createdAt, seq: recorded.seq };
      const matchedRules = rules.match(context);
      const actions: ActionOutcome[] = [];
      for (const rule of matchedRules) {
        for (const action of rule.actions) {
          const outcome = await tx.savepoint(async () => {
            const result = await runAction(deps.plugins, {
              rule,
              action,
              context,
              timeoutMs: deps.inlineActionTimeoutMs,
              pluginContext: (signal) => inlinePluginContext(deps.log, tx, event, ordering, rule.id, signal),
            });
            if (result.status === 'failed') throw new UndoAction(result);
            return result;
          }).catch((error: unknown) => {
            if (error instanceof UndoAction) return error.outcome;
            throw error;
          });
          actions.push(outcome);
        }
      }

      const matched = matchedRules.map((rule) => rule.id);
      await tx.saveOutcome(eventId, { matched, actions });
      return { event_id: eventId, event_type: event.event, duplicate: false, matched, actions };
    });
  };
}

/** Carries a failed outcome out of its savepoint, so the action's partial writes are undone and the rest kept. */
class UndoAction extends Error {
  readonly outcome: ActionOutcome;
  constructor(outcome: ActionOutcome) {
    super(outcome.error?.message);
    this.outcome = outcome;
  }
}

function inlinePluginContext(
  log: Logger,
  tx: StoreTx,
  event: LiveKitEvent,
  ordering: OrderingEvent,
  ruleId: string,
  signal: AbortSignal,
): PluginContext {
  return {
    event,
    eventId: ordering.id,
    eventName: ordering.name,
    rule: { id: ruleId },
    mode: 'inline',
    signal,
    log: log.child({ rule: ruleId, event_id: ordering.id }),
    sessions: {
      transition: (request) => {
        signal.throwIfAborted();
        return tx.transitionSession(request, ordering);
      },
    },
  };
}
