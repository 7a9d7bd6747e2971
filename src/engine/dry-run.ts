/**
 * What the engine would do with an event, doing none of it: each action of the matched rules rendered and checked
 * as ingest does, then its plugin's `prepare` called with a usage ledger that keeps its records in memory. Nothing is
 * stored, queued or sent and no plugin's `run` is called: `switchboard test` shows the result, rule tests check it.
 */
import type { EventContext, LiveKitEvent } from '../livekit/event-types.ts';
import type { UsageLedger } from '../plugins/contract.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import type { ActionPreview, UsagePreview } from '../rules/rule-tests.ts';
import type { CompiledAction, CompiledRule } from '../rules/types.ts';
import type { NewUsage } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Cancellation } from './action-deadline.ts';
import { usageLedger, type UsageWriter } from './ingest/usage-ledger.ts';
import { describeFailure, invokePrepare, prepareContext, renderParams } from './run-action.ts';

export interface DryRunOptions {
  plugins: PluginRegistry;
  /** The deadline of each `prepare`, as at ingest (INLINE_ACTION_TIMEOUT). */
  prepareTimeoutMs: number;
  /** The plugins' logger. */
  log: Logger;
}

/** The event as ingest would see it: `eventId` is its dedupe key, which names its usage. */
export interface DryRunEvent {
  event: LiveKitEvent;
  eventId: string;
  context: EventContext;
}

/** Each action of `rules` (the rules the event matched), in order, as it would run on the event. */
export async function previewActions(rules: readonly CompiledRule[], target: DryRunEvent, options: DryRunOptions): Promise<ActionPreview[]> {
  // The event's ledger, keyed by identifier as the store's unique constraint keys it.
  const ledger = new Map<string, NewUsage>();
  const previews: ActionPreview[] = [];
  for (const rule of rules) {
    for (const action of rule.actions) previews.push(await previewAction(rule, action, target, ledger, options));
  }
  return previews;
}

async function previewAction(
  rule: CompiledRule,
  action: CompiledAction,
  { event, eventId, context }: DryRunEvent,
  ledger: Map<string, NewUsage>,
  { plugins, prepareTimeoutMs, log }: DryRunOptions,
): Promise<ActionPreview> {
  const preview: ActionPreview = { rule: rule.id, index: action.index, plugin: action.plugin, mode: action.mode, usage: [] };
  const rendered = renderParams(plugins, rule, action, context);
  if (!rendered.ready) return { ...preview, ...(rendered.params && { params: rendered.params }), error: rendered.outcome.error };
  const { plugin, params } = rendered;
  if (plugin.definition.prepare === undefined) return { ...preview, params };

  // As in the event's savepoint: what a failed prepare recorded is not kept.
  const staged = new Map<string, NewUsage>();
  const writer: UsageWriter = {
    async recordUsage(entry) {
      const existing = ledger.get(entry.identifier) ?? staged.get(entry.identifier);
      if (existing !== undefined) return { duplicate: true, existing };
      staged.set(entry.identifier, entry);
      return { duplicate: false };
    },
  };
  const usage: UsagePreview[] = [];
  const origin = { eventId, eventName: event.event, ruleId: rule.id, actionIndex: action.index };
  const recording = (cancel: Cancellation): UsageLedger => {
    const written = usageLedger(writer, origin, cancel);
    return {
      async record(record) {
        const { identifier } = await written.record(record);
        const { customer, meter, quantity, unit } = record;
        usage.push({ identifier, customer, meter, quantity, unit, occurred_at: record.occurredAt.toISOString() });
        return { identifier };
      },
    };
  };
  const parts = { event, eventId, ruleId: rule.id, actionIndex: action.index, mode: action.mode, log };
  try {
    const prepared = await invokePrepare(plugin, params, (cancel) => prepareContext(parts, cancel, recording(cancel)), prepareTimeoutMs);
    for (const [identifier, entry] of staged) ledger.set(identifier, entry);
    return { ...preview, params, prepared, usage };
  } catch (error) {
    return { ...preview, params, error: describeFailure(error) };
  }
}
