/**
 * The pieces every action goes through, inline or from the queue: render and check its params, let the plugin
 * prepare them, build the plugin context, call the plugin with a deadline, and describe a failure. Store failures
 * are never swallowed here.
 */
import type { LiveKitEvent } from '../livekit/event-types.ts';
import {
  PermanentError,
  type ActionContext,
  type AttemptResponse,
  type PluginContext,
  type PrepareContext,
  type SessionTransition,
  type SessionTransitionRequest,
  type UsageLedger,
} from '../plugins/contract.ts';
import type { LoadedPlugin, PluginRegistry } from '../plugins/registry.ts';
import { validateRenderedParams } from '../plugins/params.ts';
import { isPlainObject } from '../plain-object.ts';
import { redactUrls } from '../redaction.ts';
import type { CompiledAction, CompiledRule } from '../rules/types.ts';
import type { EventContext } from '../livekit/event-types.ts';
import type { ActionOutcome } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import { withDeadline, type Cancellation } from './action-deadline.ts';

type RenderedParams =
  | { ready: true; plugin: LoadedPlugin; params: Record<string, unknown> }
  /** `params`: as rendered, when only the plugin's schema refused them. */
  | { ready: false; outcome: ActionOutcome; params?: Record<string, unknown> };

/** Renders the action's params for this event and checks them against the plugin's schema. */
export function renderParams(
  plugins: PluginRegistry,
  rule: CompiledRule,
  action: CompiledAction,
  context: EventContext,
): RenderedParams {
  const failed = (code: string, message: string): RenderedParams => ({
    ready: false,
    outcome: { rule: rule.id, plugin: action.plugin, status: 'failed', error: { code, message } },
  });
  const plugin = plugins.get(action.plugin);
  if (!plugin) return failed('E_PLUGIN_INVALID', `plugin "${action.plugin}" is not loaded`);
  let params: Record<string, unknown>;
  try {
    params = action.render(context);
  } catch (error) {
    return failed('E_RULE_RENDER', (error as Error).message);
  }
  const invalid = validateRenderedParams(plugin.spec, params);
  if (invalid) return { ...failed('E_PLUGIN_PARAMS_INVALID', invalid), params };
  return { ready: true, plugin, params };
}

/** Names one action of one rule on one event: the same across retries, replays and redeliveries. */
function idempotencyKey(eventId: string, ruleId: string, actionIndex: number): string {
  return `${eventId}/${ruleId}/${actionIndex}`;
}

/** The action a plugin call serves. */
export interface ActionParts {
  event: LiveKitEvent;
  eventId: string;
  ruleId: string;
  actionIndex: number;
  mode: PluginContext['mode'];
  /** The base logger: the plugin gets a child naming the rule and event (made only if the plugin logs). */
  log: Logger;
  logFields?: Record<string, unknown>;
}

interface ContextParts extends ActionParts {
  attempt: number;
  transition(request: SessionTransitionRequest): Promise<SessionTransition>;
  recordResponse?(response: AttemptResponse): void;
}

const PARTS = Symbol('parts');
const CANCEL = Symbol('cancel');
const LOG = Symbol('log');

interface ContextState {
  [PARTS]: ActionParts;
  [CANCEL]: Cancellation;
  [LOG]: Logger | undefined;
}

/**
 * The prototype of every plugin context: `signal` and `log` are made on first use (most inline actions use
 * neither). Getters written in each context's literal instead are new functions for every call, which gives every
 * context a hidden class of its own; V8 then kept what a context referenced (the event among it) alive through
 * young-generation collections, about 5% of everything allocated per event, which made those pauses four to five
 * times longer. Contexts made by a constructor kept half as much alive; literals with this prototype, none
 * (docs/decisions/0006-plugin-context-shared-prototype.md).
 */
const LAZY_CONTEXT = {
  get signal(): AbortSignal {
    return (this as unknown as ContextState)[CANCEL].signal;
  },
  get log(): Logger {
    const context = this as unknown as ContextState;
    const parts = context[PARTS];
    context[LOG] ??= parts.log.child({ rule: parts.ruleId, event_id: parts.eventId, ...parts.logFields });
    return context[LOG];
  },
};

/** What every context has of its action, apart from `signal` and `log`. */
function actionFields(parts: ActionParts, cancel: Cancellation) {
  return {
    event: parts.event,
    eventId: parts.eventId,
    eventName: parts.event.event,
    rule: { id: parts.ruleId },
    mode: parts.mode,
    idempotencyKey: idempotencyKey(parts.eventId, parts.ruleId, parts.actionIndex),
    [PARTS]: parts,
    [CANCEL]: cancel,
    [LOG]: undefined,
  };
}

/** A context's literal: every field but the lazy ones, which its prototype adds. */
type ContextLiteral<Context extends ActionContext> = Omit<Context, 'signal' | 'log'> & { __proto__: typeof LAZY_CONTEXT };

function withLazyFields<Context extends ActionContext>(literal: ContextLiteral<Context>): Context {
  return literal as unknown as Context;
}

export function pluginContext(parts: ContextParts, cancel: Cancellation): PluginContext {
  return withLazyFields<PluginContext>({
    __proto__: LAZY_CONTEXT,
    ...actionFields(parts, cancel),
    attempt: parts.attempt,
    recordResponse: (response: AttemptResponse) => parts.recordResponse?.(response),
    sessions: {
      transition: (request: SessionTransitionRequest) => {
        cancel.throwIfAborted();
        return parts.transition(request);
      },
    },
  });
}

export function prepareContext(parts: ActionParts, cancel: Cancellation, usage: UsageLedger): PrepareContext {
  return withLazyFields<PrepareContext>({ __proto__: LAZY_CONTEXT, ...actionFields(parts, cancel), usage });
}

/** Calls the plugin's `run`; rejects with an `E_PLUGIN_TIMEOUT` error when it outlives `timeoutMs` or `stop` fires. */
export function invokePlugin(
  plugin: LoadedPlugin,
  params: Record<string, unknown>,
  context: (cancel: Cancellation) => PluginContext,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<unknown> {
  return withDeadline((cancel) => plugin.definition.run(params, context(cancel)), timeoutMs, stop);
}

/**
 * The params `run` receives: what the plugin's `prepare` makes of the rendered ones (they stay as they are without
 * one). Bounded like `invokePlugin`; the caller runs it inside the event's transaction.
 */
export async function invokePrepare(
  plugin: LoadedPlugin,
  params: Record<string, unknown>,
  context: (cancel: Cancellation) => PrepareContext,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const { definition } = plugin;
  if (definition.prepare === undefined) return params;
  const prepared: unknown = await withDeadline((cancel) => definition.prepare!(params, context(cancel)), timeoutMs);
  if (!isPlainObject(prepared)) {
    throw new PermanentError(`plugin "${definition.name}": prepare must return the params for run (an object)`, { code: 'E_PLUGIN_INVALID' });
  }
  return prepared;
}

/** The session transition a plugin declares for these params (PluginDefinition.transition), checked. */
export function declaredTransition(plugin: LoadedPlugin, params: Record<string, unknown>): SessionTransitionRequest {
  const { name, transition } = plugin.definition;
  const request: unknown = transition!(params);
  const text = (value: unknown) => typeof value === 'string' && value !== '';
  if (
    !isPlainObject(request) ||
    !text(request.key) ||
    !text(request.status) ||
    (request.from !== undefined && !(Array.isArray(request.from) && request.from.every(text)))
  ) {
    throw new PermanentError(`plugin "${name}": transition must return { key, status, from? } of non-empty strings`, {
      code: 'E_PLUGIN_INVALID',
    });
  }
  const { key, status, from } = request as unknown as SessionTransitionRequest;
  return from === undefined ? { key, status } : { key, status, from };
}

export function describeFailure(error: unknown): { code: string; message: string } {
  // The message is stored, logged and forwarded in dead-letter events: a URL it quotes loses its query values.
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'E_PLUGIN_FAILED', message: redactUrls(error.message) };
  }
  return { code: 'E_PLUGIN_FAILED', message: redactUrls(String(error)) };
}

/** Only a failure the plugin declared permanent is final; anything unexpected may pass on a later attempt. */
export function isRetryable(error: unknown): boolean {
  return (error as { retryable?: unknown }).retryable !== false;
}
