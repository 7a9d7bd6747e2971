/**
 * Runs one rule action: render its params against the event, check them against the plugin's schema, call the
 * plugin with a deadline, and describe what happened as an outcome. Store failures are not outcomes: they propagate,
 * so the caller's transaction fails as a whole.
 */
import { isSwitchboardError } from '../errors.ts';
import type { EventContext } from '../livekit/event-types.ts';
import type { PluginContext } from '../plugins/contract.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import { validateRenderedParams } from '../rules/params.ts';
import type { CompiledAction, CompiledRule } from '../rules/types.ts';
import type { ActionOutcome } from '../store/store.ts';

export interface ActionRun {
  rule: CompiledRule;
  action: CompiledAction;
  context: EventContext;
  timeoutMs: number;
  /** Everything of the plugin context but the deadline signal, which the run owns. */
  pluginContext: (signal: AbortSignal) => PluginContext;
}

export async function runAction(plugins: PluginRegistry, run: ActionRun): Promise<ActionOutcome> {
  const { rule, action } = run;
  const outcome = { rule: rule.id, plugin: action.plugin };
  const plugin = plugins.get(action.plugin);
  if (!plugin) {
    return { ...outcome, status: 'failed', error: { code: 'E_PLUGIN_INVALID', message: `plugin "${action.plugin}" is not loaded` } };
  }

  let params: Record<string, unknown>;
  try {
    params = action.render(run.context);
  } catch (error) {
    return { ...outcome, status: 'failed', error: { code: 'E_RULE_RENDER', message: (error as Error).message } };
  }
  const invalidParams = validateRenderedParams(plugin.spec, params);
  if (invalidParams) {
    return { ...outcome, status: 'failed', error: { code: 'E_PLUGIN_PARAMS_INVALID', message: invalidParams } };
  }

  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('deadline')), run.timeoutMs);
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => plugin.definition.run(params, run.pluginContext(deadline.signal))),
      new Promise<never>((_, reject) =>
        deadline.signal.addEventListener('abort', () => reject(new ActionTimeout(run.timeoutMs)), { once: true }),
      ),
    ]);
    return { ...outcome, status: 'succeeded', result };
  } catch (error) {
    if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
    return { ...outcome, status: 'failed', error: describeFailure(error) };
  } finally {
    clearTimeout(timer);
    deadline.abort(new Error('finished'));
  }
}

class ActionTimeout extends Error {
  readonly code = 'E_PLUGIN_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`the action did not finish within ${timeoutMs} ms`);
  }
}

function describeFailure(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'E_PLUGIN_FAILED', message: error.message };
  }
  return { code: 'E_PLUGIN_FAILED', message: String(error) };
}
