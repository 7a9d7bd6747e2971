/**
 * The public plugin contract. A plugin is a file in PLUGINS_DIR whose default export is `definePlugin({...})`
 * (or the same plain object). Plugins use only what this module exposes; they never reach into the engine.
 */
import type { LiveKitEvent } from '../livekit/event-types.ts';

export { DURATION_PATTERN, durationMs, parseDurationMs } from '../duration.ts';

export type JsonSchema = Record<string, unknown>;
export type ActionMode = 'inline' | 'async';

export interface SessionTransitionRequest {
  key: string;
  status: string;
  /** Apply only when the current status is one of these. */
  from?: string[];
}

export interface SessionTransition {
  key: string;
  old_status: string;
  new_status: string;
  applied: boolean;
  /** Why a transition was not applied: an older event than the one that set the current status, or the `from` guard. */
  reason?: 'stale' | 'guard';
}

export interface PluginLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export interface PluginContext {
  /** The event body exactly as LiveKit sent it. */
  readonly event: Readonly<LiveKitEvent>;
  readonly eventId: string;
  readonly eventName: string;
  readonly rule: { readonly id: string };
  readonly mode: ActionMode;
  /**
   * Stable for one action of one rule on one event: the same across retries, replays and redeliveries, so a
   * receiver that honours it never applies the action twice.
   */
  readonly idempotencyKey: string;
  /** 1 for the first try; inline actions always run once. */
  readonly attempt: number;
  /** Notes what the target answered, for the delivery's attempt record. */
  recordResponse(response: AttemptResponse): void;
  /** Aborted when the action's time is up or the process is shutting down. */
  readonly signal: AbortSignal;
  readonly log: PluginLogger;
  /** Keyed session statuses, ordered by the event that drives the action. */
  readonly sessions: {
    transition(request: SessionTransitionRequest): Promise<SessionTransition>;
  };
}

export interface AttemptResponse {
  status?: number;
  /** The response body; only its first KiB is kept. */
  body?: string;
}

export interface PluginDefinition<Params = any, Result = unknown> {
  name: string;
  description: string;
  /** JSON Schema for the action's `with:` after templates are rendered. */
  params: JsonSchema;
  /** When true the action runs before the webhook is answered unless the rule says otherwise. */
  inline?: boolean;
  /**
   * Checks the action's `with:` as written in the rule (templates unrendered) at load, for what a schema cannot
   * say; returns one message per problem.
   */
  check?(params: Record<string, unknown>): string[];
  /**
   * Names the system the action calls (e.g. an URL's origin): circuit breaking, rate limits and the admin
   * enable/disable switch work per target. Defaults to the plugin's name.
   */
  target?(params: Params): string;
  run(params: Params, ctx: PluginContext): Promise<Result> | Result;
}

/** Types a plugin definition; returns it unchanged. */
export function definePlugin<Params = any, Result = unknown>(
  definition: PluginDefinition<Params, Result>,
): PluginDefinition<Params, Result> {
  return definition;
}

/** A failure that will fail again: bad params, a rejected request. Never retried. */
export class PermanentError extends Error {
  readonly retryable = false;
  readonly code: string;
  /** The target said it is gone for good (HTTP 410): stop sending to it until an operator enables it again. */
  readonly disableTarget: boolean;
  constructor(message: string, options: { code?: string; disableTarget?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PermanentError';
    this.code = options.code ?? 'E_PLUGIN_PERMANENT';
    this.disableTarget = options.disableTarget ?? false;
  }
}

/** A failure that may pass later: a timeout, a 5xx, a refused connection. */
export class RetryableError extends Error {
  readonly retryable = true;
  readonly code: string;
  /** A hint from the target (e.g. Retry-After) for when to try again. */
  readonly retryAfterMs?: number;
  constructor(message: string, options: { code?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'RetryableError';
    this.code = options.code ?? 'E_PLUGIN_RETRYABLE';
    this.retryAfterMs = options.retryAfterMs;
  }
}
