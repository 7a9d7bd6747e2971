/**
 * The plugin contract: what a plugin is (`definePlugin`), what it is given (the contexts) and how it fails (the
 * two errors). Published with the helpers every plugin may use as `livekit-switchboard/plugin` (./index.ts).
 */
import type { LiveKitEvent } from '../livekit/event-types.ts';

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

/** What every call into a plugin knows about the action it serves. */
export interface ActionContext {
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
  /** Aborted when the call's time is up or the process is shutting down. */
  readonly signal: AbortSignal;
  readonly log: PluginLogger;
}

export interface PluginContext extends ActionContext {
  /** 1 for the first try; inline actions always run once. */
  readonly attempt: number;
  /** Notes what the target answered, for the delivery's attempt record. */
  recordResponse(response: AttemptResponse): void;
  /** Keyed session statuses, ordered by the event that drives the action. */
  readonly sessions: {
    transition(request: SessionTransitionRequest): Promise<SessionTransition>;
  };
}

/**
 * What `prepare` may use: it runs inside the event's transaction, so whatever it records commits with the event; in a
 * dry run the same calls record nothing.
 */
export interface PrepareContext extends ActionContext {
  readonly usage: UsageLedger;
}

/** One usage measured from an event. */
export interface UsageRecord {
  /** Who is billed for it, e.g. a Stripe customer id. */
  customer: string;
  /** What was measured, e.g. "participant_minutes"; with the rule and the event it names the usage. */
  meter: string;
  /** A whole number of `unit`s, 0 or more. */
  quantity: number;
  /** e.g. "minutes". */
  unit: string;
  /** When the usage happened: the event's time. */
  occurredAt: Date;
}

export interface RecordedUsage {
  /**
   * Names this usage wherever it goes: derived from the rule id, the event id and the meter, so it is the same for
   * every retry, replay and redelivery. Send it to the provider as its idempotency key.
   */
  identifier: string;
}

/** The usage ledger: one row per usage, written in the event's transaction, before any network call. */
export interface UsageLedger {
  /**
   * Writes the usage. Recording the same meter again for the same rule and event names the same usage: nothing more
   * is written, and a record that differs from the first fails with `E_USAGE_CONFLICT`. A quantity that is not a
   * whole number of at least 0, or an empty customer, meter or unit, fails with `E_USAGE_INVALID`.
   */
  record(usage: UsageRecord): Promise<RecordedUsage>;
}

export interface AttemptResponse {
  status?: number;
  /** The response body; only its first KiB is kept. */
  body?: string;
}

/**
 * `Params` are the action's `with:` once rendered; `Prepared` what `prepare` turns them into (the same without
 * `prepare`), which is what `target` and `run` receive.
 */
export interface PluginDefinition<Params = any, Result = unknown, Prepared = Params> {
  name: string;
  /** One line for people reading a list of plugins; optional. */
  description?: string;
  /** JSON Schema for the action's `with:` after templates are rendered. */
  params: JsonSchema;
  /** When true the action runs before the webhook is answered unless the rule says otherwise. */
  inline?: boolean;
  /** The modes the plugin can run in (default: both); a rule asking for another is refused at load. */
  modes?: readonly ActionMode[];
  /**
   * Checks the action's `with:` as written in the rule (templates unrendered) at load, for what a schema cannot
   * say; returns one message per problem.
   */
  check?(params: Record<string, unknown>): string[];
  /**
   * Runs when the event is ingested, inside its transaction, before the action is queued (async) or run (inline),
   * within INLINE_ACTION_TIMEOUT: turns the rendered params into the params `run` receives, which an async delivery
   * stores so that every attempt and replay sends the same thing. It may record usage (`ctx.usage`), committed with
   * the event. Throwing fails the action with that reason: nothing is queued and nothing it recorded is kept.
   * The event's transaction waits for it, so it makes no network calls. Its only effect is what it records through
   * `ctx.usage`: that is what lets a dry run (`switchboard test`, rule tests) call it with a ledger that keeps
   * nothing, to show what an event would bill.
   */
  prepare?(params: Params, ctx: PrepareContext): Promise<Prepared> | Prepared;
  /**
   * Names the system the action calls (e.g. an URL's origin): circuit breaking, rate limits and the admin
   * enable/disable switch work per target. Defaults to the plugin's name.
   */
  target?(params: Prepared): string;
  /**
   * For a plugin whose whole effect is one session status change: the change its params ask for, declared. An
   * inline action of the plugin (one without `prepare`) is then applied by the store from this declaration with the
   * event's other writes (on PostgreSQL, in the ingest's single statement), its result is the SessionTransition, and
   * `run` is not called; async deliveries still call `run`, which must make the same transition. It must be a pure
   * function of the params: it is called once, when the event is planned.
   */
  transition?(params: Prepared): SessionTransitionRequest;
  run(params: Prepared, ctx: PluginContext): Promise<Result> | Result;
}

/** Types a plugin definition; returns it unchanged. */
export function definePlugin<Params = any, Result = unknown, Prepared = Params>(
  definition: PluginDefinition<Params, Result, Prepared>,
): PluginDefinition<Params, Result, Prepared> {
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
