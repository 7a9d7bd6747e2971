/** StoreTx.recordIngest, written once over the transaction's own writes: an event's ingest, step by step. */
import { isSwitchboardError } from '../../errors.ts';
import type { SessionTransition } from '../../plugins/contract.ts';
import type {
  ActionOutcome,
  ActionStep,
  Enqueued,
  IngestPlan,
  NewDelivery,
  OrderingEvent,
  PlannedAction,
  PlannedTransition,
  QueuedAction,
  RecordedIngest,
  StoreTx,
} from '../store.ts';

export function isQueuedAction(action: PlannedAction): action is QueuedAction {
  return 'delivery' in action;
}

export function isActionStep(action: PlannedAction): action is ActionStep {
  return 'run' in action;
}

export function isPlannedTransition(action: PlannedAction): action is PlannedTransition {
  return 'transition' in action;
}

/** The outcome of a declared transition once applied: what an inline `run` making it would have returned. */
function transitionOutcome({ transition }: PlannedTransition, result: SessionTransition): ActionOutcome {
  return { rule: transition.rule, plugin: transition.plugin, status: 'succeeded', result };
}

/** The outcome of an action once its delivery is queued. */
export function queuedOutcome(delivery: Pick<NewDelivery, 'ruleId' | 'plugin'>, id: number): ActionOutcome {
  return { rule: delivery.ruleId, plugin: delivery.plugin, status: 'queued', result: { delivery_id: id } };
}

export async function recordIngest(tx: StoreTx, plan: IngestPlan): Promise<RecordedIngest> {
  const { event } = plan;
  const recorded = await tx.recordEvent(event);
  if (recorded.duplicate) return { recorded: false };
  const { seq } = recorded;
  const ordering: OrderingEvent = { id: event.id, name: event.name, createdAt: event.createdAt, seq };
  if (plan.change !== null) {
    const { duplicateOf } = await tx.applyPictureChange(plan.change, ordering);
    if (duplicateOf !== null) {
      await tx.saveOutcome(event.id, { matched: [], actions: [] });
      return { recorded: true, seq, duplicateOf };
    }
  }
  const actions: ActionOutcome[] = [];
  const queued: Array<{ action: QueuedAction; enqueued: Enqueued }> = [];
  for (const planned of plan.actions) {
    const action = isActionStep(planned)
      ? await planned.run(tx, ordering)
      : isPlannedTransition(planned)
        ? await applyTransition(tx, planned, ordering)
        : planned;
    if (!isQueuedAction(action)) {
      actions.push(action);
      continue;
    }
    const enqueued = await tx.enqueueDelivery({ ...action.delivery, eventSeq: seq }, action.lease);
    queued.push({ action, enqueued });
    actions.push(queuedOutcome(action.delivery, enqueued.id));
  }
  await tx.saveOutcome(event.id, { matched: plan.matched, actions });
  return { recorded: true, seq, duplicateOf: null, actions, queued };
}

/** In a savepoint of its own, as an inline action's `run`: a failure fails the action and undoes its writes alone. */
async function applyTransition(tx: StoreTx, planned: PlannedTransition, ordering: OrderingEvent): Promise<ActionOutcome> {
  const { rule, plugin, request } = planned.transition;
  try {
    return transitionOutcome(planned, await tx.savepoint(() => tx.transitionSession(request, ordering)));
  } catch (error) {
    if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
    return { rule, plugin, status: 'failed', error: { code: 'E_PLUGIN_FAILED', message: (error as Error).message } };
  }
}
