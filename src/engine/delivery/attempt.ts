/**
 * One attempt of a delivery: through its target's rate limit and circuit, the plugin called with the attempt's
 * deadline, then the result recorded where it leaves the delivery (succeeded, waiting for a retry, dead) under the
 * worker's lease. Each attempt is a span that continues the trace of the webhook that queued its delivery.
 */
import { isSwitchboardError } from '../../errors.ts';
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import type { AttemptResponse } from '../../plugins/contract.ts';
import type { PluginRegistry } from '../../plugins/registry.ts';
import type { CompiledRule, RateLimit, RuleSet } from '../../rules/types.ts';
import type { AttemptVerdict, ClaimedDelivery, Delivery, DeliveryAttempt, OrderingEvent, Store, StoreTx } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { context, contextFrom, contextWithSpan, failSpan, INTERNAL, spanNames, traceLogFields, tracer, type Context, type Span } from '../../telemetry/spans.ts';
import { describeFailure, invokePlugin, isRetryable, pluginContext } from '../run-action.ts';
import { unsealedParams } from '../sealed-params.ts';
import { retryDelay } from './retry-schedule.ts';
import { CircuitOpenError, type TargetGuards } from './target-guards.ts';

const attemptSpanName = spanNames('deliver');

/** The event of a delivery, as its ingest or its claim has it in memory. */
export interface KnownEvent {
  /** Parsed from the body as received. */
  payload: LiveKitEvent;
  ordering: OrderingEvent;
}

/** A delivery an attempt has just made dead. */
interface DeadDelivery {
  delivery: Delivery;
  /** The event it was for; undefined when that could not be read. */
  event: LiveKitEvent | undefined;
  attempts: number;
  lastError: { code: string; message: string } | undefined;
}

/**
 * Tells whoever listens that a delivery is dead, in the transaction that made it so (the app ingests a
 * `switchboard.delivery_dead` event); resolves true when that queued deliveries. `parent`: the attempt's span.
 */
export type AnnounceDead = (tx: StoreTx, dead: DeadDelivery, parent: Context) => Promise<boolean>;

export interface AttemptDependencies {
  store: Store;
  plugins: PluginRegistry;
  guards: TargetGuards;
  currentRules: () => RuleSet;
  log: Logger;
  metrics: Metrics;
  announceDead: AnnounceDead;
  /** The worker whose lease the delivery is under. */
  owner: string;
  /** Aborted when the worker gives up on running attempts at shutdown: they are deferred, not counted. */
  stop: AbortSignal;
  /** Told when an announced dead letter queued deliveries, so the worker claims them now. */
  onQueued: () => void;
  /**
   * Whether a completion that frees an ordering group claims the group's next itself (the worker is claiming, and
   * these are its lease and the targets it skips); null when not.
   */
  claimsNext: () => { leaseMs: number; skipTargets: readonly string[] } | null;
  random?: () => number;
}

/**
 * How an attempt ended: `finished` when it finished the delivery (succeeded or dead), freeing its ordering group's
 * next; `next`, that next when the completion claimed it (leased to the worker, to run now).
 */
export interface AttemptEnd {
  finished: boolean;
  next: ClaimedDelivery | null;
}

const UNFINISHED: AttemptEnd = { finished: false, next: null };

/** Runs one attempt of `delivery`; `eventOf` gives its event (read within the attempt, so a failure is the attempt's). */
export type RunAttempt = (delivery: Delivery, eventOf: () => KnownEvent | null) => Promise<AttemptEnd>;

export function attemptRunner(deps: AttemptDependencies): RunAttempt {
  const { store, plugins, guards, log, metrics, owner, stop } = deps;

  /** One attempt, run with `span` active in `spanContext`. */
  async function attemptIn(delivery: Delivery, eventOf: () => KnownEvent | null, release: () => void, span: Span, spanContext: Context): Promise<AttemptEnd> {
    const number = delivery.attempts + 1;
    if (span.isRecording()) {
      span.setAttributes({
        'switchboard.delivery.id': delivery.id,
        'switchboard.delivery.attempt': number,
        'switchboard.delivery.max_attempts': delivery.maxAttempts,
        'switchboard.delivery.target': delivery.target,
        'switchboard.rule.id': delivery.ruleId,
        'switchboard.action.index': delivery.actionIndex,
        'switchboard.plugin': delivery.plugin,
        'livekit.event.id': delivery.eventId,
        'livekit.event.name': delivery.eventName,
      });
    }
    const traceFields = traceLogFields(span);
    const startedAt = new Date();
    let response: AttemptResponse | undefined;
    let verdict: AttemptVerdict;
    let failure: { code: string; message: string } | undefined;
    let disableTarget = false;
    // Kept for the dead-letter event, which carries the original's room and participant.
    let source: KnownEvent | null = null;
    try {
      const plugin = plugins.get(delivery.plugin);
      const event = eventOf();
      source = event;
      if (!plugin || !event) {
        throw Object.assign(new Error(plugin ? `event ${delivery.eventId} is not in the store` : `plugin "${delivery.plugin}" is not loaded`), {
          code: 'E_PLUGIN_INVALID',
          retryable: false,
        });
      }
      // Before the target's circuit: an action that is gone says nothing about the target.
      const params = unsealedParams(delivery, deps.currentRules(), plugins);
      await guards.run(delivery.target, () =>
        // The plugin runs with the attempt's span active: what it traces (the http plugin's request) joins in.
        context.with(spanContext, () =>
          invokePlugin(
            plugin,
            params,
            (cancel) =>
              pluginContext(
                {
                  event: event.payload,
                  eventId: delivery.eventId,
                  ruleId: delivery.ruleId,
                  actionIndex: delivery.actionIndex,
                  mode: 'async',
                  attempt: number,
                  log,
                  logFields: { delivery_id: delivery.id, ...traceFields },
                  transition: (request) => store.transaction((tx) => tx.transitionSession(request, event.ordering)),
                  recordResponse: (answer) => {
                    response = answer;
                  },
                },
                cancel,
              ),
            delivery.timeoutMs,
            stop,
          ),
        ),
      );
      verdict = { state: 'succeeded' };
    } catch (error) {
      if (error instanceof CircuitOpenError || stop.aborted) {
        const snapshot = guards.snapshot().find((target) => target.target === delivery.target);
        const dueAt = snapshot?.probeAt ?? new Date();
        await store.transaction((tx) => tx.deferDelivery(owner, delivery.id, dueAt));
        // Not an attempt: none was consumed, and the delivery is tried again at dueAt.
        if (span.isRecording()) span.setAttribute('switchboard.delivery.outcome', 'deferred');
        return UNFINISHED;
      }
      if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
      failure = describeFailure(error);
      failSpan(span, error);
      disableTarget = (error as { disableTarget?: unknown }).disableTarget === true;
      verdict = afterFailure(delivery, number, error);
    } finally {
      release();
    }

    const attempt: DeliveryAttempt = {
      deliveryId: delivery.id,
      number,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
      succeeded: verdict.state === 'succeeded',
      statusCode: response?.status,
      error: failure,
      // The store keeps only the first KiB (truncateResponse).
      response: response?.body,
    };
    let queued = false;
    let next: ClaimedDelivery | null = null;
    const claimsNext = delivery.orderingKey !== null && verdict.state === 'succeeded' ? deps.claimsNext() : null;
    let recorded: boolean;
    if (verdict.state === 'dead') {
      recorded = await store.transaction(async (tx) => {
        if (!(await tx.completeAttempt(owner, attempt, verdict))) return false;
        if (disableTarget) await tx.setTargetDisabled(delivery.target, true, `${failure?.code}: ${failure?.message}`);
        queued = await deps.announceDead(tx, { delivery, event: source?.payload, attempts: number, lastError: failure }, spanContext);
        return true;
      });
    } else if (claimsNext !== null) {
      const group = { ruleId: delivery.ruleId, actionIndex: delivery.actionIndex, orderingKey: delivery.orderingKey! };
      ({ recorded, next } = await store.completeAttemptClaimingNext(owner, attempt, verdict, { owner, now: new Date(), group, ...claimsNext }));
    } else {
      recorded = await store.completeAttempt(owner, attempt, verdict);
    }
    if (span.isRecording()) {
      span.setAttribute('switchboard.delivery.outcome', verdict.state);
      if (attempt.statusCode !== undefined) span.setAttribute('switchboard.delivery.status_code', attempt.statusCode);
    }
    if (!recorded) {
      log.warn({ delivery_id: delivery.id, ...traceFields }, 'lost the lease before the attempt was recorded; another worker runs it');
    }
    if (recorded && verdict.state === 'dead' && disableTarget) {
      log.warn({ target: delivery.target, delivery_id: delivery.id, error: failure, ...traceFields }, 'target disabled: enable it when it is fixed');
    }
    metrics.attempt(delivery.ruleId, delivery.plugin, verdict.state, attempt.durationMs / 1000, delivery.target);
    if (recorded && verdict.state === 'dead') metrics.deadLetter(delivery.ruleId, delivery.plugin);
    // A delivery going dead needs an operator (replay, or fix the target): it is a warning, not news.
    log[recorded && verdict.state === 'dead' ? 'warn' : 'info'](
      {
        delivery_id: delivery.id,
        event_id: delivery.eventId,
        rule: delivery.ruleId,
        plugin: delivery.plugin,
        target: delivery.target,
        attempt: number,
        state: verdict.state,
        error: failure,
        status_code: attempt.statusCode,
        duration_ms: attempt.durationMs,
        ...traceFields,
      },
      'delivery attempt',
    );
    if (queued) deps.onQueued();
    return { finished: recorded && verdict.state !== 'failed-waiting-retry', next };
  }

  function afterFailure(delivery: Delivery, number: number, error: unknown): AttemptVerdict {
    if (!isRetryable(error) || number >= delivery.maxAttempts) return { state: 'dead' };
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
    const delay = retryDelay({
      delays: delivery.retrySchedule,
      nextAttempt: number + 1,
      retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
      random: deps.random,
    });
    return { state: 'failed-waiting-retry', dueAt: new Date(Date.now() + delay) };
  }

  /** The rate limit in force for the delivery's action: rule changes apply to deliveries already queued. */
  function rateLimitOf(delivery: Delivery): RateLimit | undefined {
    return rulesById(deps.currentRules()).get(delivery.ruleId)?.actions[delivery.actionIndex]?.rateLimit;
  }

  return async (delivery, eventOf) => {
    const admission = guards.admit(delivery.target, rateLimitOf(delivery));
    if (!admission.admitted) {
      await store.transaction((tx) => tx.deferDelivery(owner, delivery.id, new Date(admission.retryAt)));
      return UNFINISHED;
    }
    const parent = contextFrom(delivery.traceContext);
    const span = tracer.startSpan(attemptSpanName(delivery.plugin), INTERNAL, parent);
    try {
      return await attemptIn(delivery, eventOf, admission.release, span, contextWithSpan(parent, span));
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  };
}

const rulesByIdCache = new WeakMap<RuleSet, Map<string, CompiledRule>>();

function rulesById(rules: RuleSet): Map<string, CompiledRule> {
  let byId = rulesByIdCache.get(rules);
  if (!byId) {
    byId = new Map(rules.rules.map((rule) => [rule.id, rule]));
    rulesByIdCache.set(rules, byId);
  }
  return byId;
}
