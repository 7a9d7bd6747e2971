/** StoreTx.recordIngest, written once over the transaction's own writes: an event's ingest, step by step. */
import type {
  ActionOutcome,
  ActionStep,
  Enqueued,
  IngestPlan,
  NewDelivery,
  OrderingEvent,
  QueuedAction,
  RecordedIngest,
  StoreTx,
} from '../store.ts';

export function isQueuedAction(action: ActionOutcome | QueuedAction | ActionStep): action is QueuedAction {
  return 'delivery' in action;
}

function isActionStep(action: ActionOutcome | QueuedAction | ActionStep): action is ActionStep {
  return 'run' in action;
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
    const action = isActionStep(planned) ? await planned.run(tx, ordering) : planned;
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
