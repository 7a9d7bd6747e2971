/**
 * The delivery worker: claims due deliveries under a lease, runs each attempt through its target's circuit and
 * rate limit, and records where the attempt leaves the delivery (succeeded, waiting for a retry, dead). Waiting is
 * always a due time in the store, never a sleeping promise, so a crash loses no schedule. Each attempt is a span
 * that continues the trace of the webhook that queued its delivery.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSwitchboardError } from '../errors.ts';
import type { LiveKitEvent } from '../livekit/event-types.ts';
import type { AttemptResponse } from '../plugins/contract.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import type { CompiledRule, RateLimit, RuleSet } from '../rules/types.ts';
import type { AttemptVerdict, ClaimedDelivery, Delivery, DeliveryAttempt, DeliveryLease, OrderingEvent, Store, StoreTx } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { context, contextFrom, contextWithSpan, failSpan, INTERNAL, spanNames, traceLogFields, tracer, type Context, type Span } from '../telemetry/spans.ts';
import type { Ingestion } from './ingest.ts';
import { retryDelay } from './retry-schedule.ts';
import { describeFailure, invokePlugin, isRetryable, pluginContext } from './run-action.ts';
import { CircuitOpenError, type TargetGuards } from './target-guards.ts';

const DELIVERY_DEAD_EVENT = 'switchboard.delivery_dead';
/**
 * The least time between two claims. A claim is a query costing about as much as several attempts' bookkeeping;
 * under steady traffic every commit that queues deliveries wakes the worker, and claiming at each wake-up would
 * take them one or two at a time.
 */
const MIN_CLAIM_GAP_MS = 5;
const attemptSpanName = spanNames('deliver');

export interface WorkerOptions {
  store: Store;
  plugins: PluginRegistry;
  ingestion: Ingestion;
  guards: TargetGuards;
  currentRules: () => RuleSet;
  log: Logger;
  metrics: Metrics;
  /** Attempts running at once in this process. */
  concurrency: number;
  /** How often an idle worker looks for due deliveries (it is also woken when deliveries are queued here). */
  pollIntervalMs: number;
  /** How long a claim holds a delivery; renewed while its attempt runs. */
  leaseMs: number;
  random?: () => number;
}

/** The event of a delivery, as its ingest already has it in memory. */
export interface KnownEvent {
  body: LiveKitEvent;
  ordering: OrderingEvent;
}

/** A slot held for a delivery being queued by a transaction not yet committed (see DeliveryWorker.reserve). */
export interface Reservation {
  lease: DeliveryLease;
  /** The transaction committed the delivery leased to this worker: its attempt starts now. */
  adopt(delivery: Delivery, event: KnownEvent): void;
  /** The delivery was written without the lease, or not at all. */
  release(): void;
}

export class DeliveryWorker {
  /** Names this worker's leases in the store. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #options: WorkerOptions;
  readonly #running = new Map<number, Promise<void>>();
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Slots held by reservations. */
  #reserved = 0;
  /** Whether due deliveries may be waiting in the store, so a slot freeing up is worth a claim. */
  #backlog = true;

  constructor(options: WorkerOptions) {
    this.#options = options;
  }

  get running(): boolean {
    return this.#loop !== undefined && !this.#stop.signal.aborted;
  }

  start(): void {
    this.#loop ??= this.#run();
    this.#heartbeat = setInterval(() => void this.#renewLeases(), Math.max(50, this.#options.leaseMs / 3));
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    this.#backlog = true;
    this.#wake?.();
  }

  /**
   * Holds a slot for a delivery to `target` that a transaction is queueing, so that it is written already leased to
   * this worker and starts as soon as the transaction commits, with no claim (see StoreTx.enqueueDelivery). Null
   * when the worker is not running or stopping, has no free slot, or the target is blocked: the delivery is then
   * written pending and claimed as usual.
   */
  reserve(target: string): Reservation | null {
    if (this.#loop === undefined || this.#stopping) return null;
    if (this.#running.size + this.#reserved >= this.#options.concurrency || this.#options.guards.blocks(target)) return null;
    this.#reserved += 1;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#reserved -= 1;
    };
    return {
      lease: { owner: this.owner, expiresAt: new Date(Date.now() + this.#options.leaseMs) },
      adopt: (delivery, event) => {
        release();
        this.#track(delivery, () => event);
      },
      release,
    };
  }

  /**
   * Stops claiming, lets running attempts finish until `deadlineMs`, then aborts the rest and gives their
   * deliveries back without consuming an attempt.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.#loop) return;
    const abandon = setTimeout(() => this.#stop.abort(), deadlineMs);
    this.#stopping = true;
    this.wake();
    await this.#loop;
    await Promise.allSettled(this.#running.values());
    clearTimeout(abandon);
    clearInterval(this.#heartbeat);
    this.#stop.abort();
    try {
      const released = await this.#options.store.transaction((tx) => tx.releaseLeases(this.owner));
      if (released > 0) this.#options.log.warn({ released }, 'gave back deliveries still leased at shutdown');
    } catch (error) {
      // Leases left behind expire by themselves, and other workers then run those deliveries.
      this.#options.log.error({ err: error }, 'could not give back leases at shutdown');
    }
  }

  async #run(): Promise<void> {
    const { store, guards, concurrency, log } = this.#options;
    let lastClaimAt = -Infinity;
    while (!this.#stopping) {
      const sinceLastClaim = performance.now() - lastClaimAt;
      if (sinceLastClaim < MIN_CLAIM_GAP_MS) await sleep(MIN_CLAIM_GAP_MS - sinceLastClaim);
      const free = concurrency - this.#running.size - this.#reserved;
      let claimed: ClaimedDelivery[] = [];
      if (free > 0) {
        lastClaimAt = performance.now();
        // A claim that fills every free slot may have left more behind.
        this.#backlog = false;
        try {
          claimed = await store.transaction((tx) =>
            tx.claimDueDeliveries({
              owner: this.owner,
              now: new Date(),
              limit: free,
              leaseMs: this.#options.leaseMs,
              skipTargets: guards.blocked(),
            }),
          );
        } catch (error) {
          log.error({ err: error }, 'claiming deliveries failed; trying again at the next poll');
        }
        for (const delivery of claimed) this.#track(delivery, () => claimedEvent(delivery));
        if (claimed.length === free) this.#backlog = true;
      }
      if (claimed.length < free || free <= 0) await this.#idle();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Runs an attempt of `delivery`; `event` gives its event (parsed within the attempt, so a failure is the attempt's). */
  #track(delivery: Delivery, event: () => KnownEvent | null): void {
    const attempt = this.#attempt(delivery, event)
      .catch((error: unknown) => {
        this.#options.log.error({ err: error, delivery_id: delivery.id }, 'recording a delivery attempt failed; its lease will expire and it runs again');
      })
      .finally(() => {
        this.#running.delete(delivery.id);
        // A claim is a query: wait until half the slots are free (or the poll) rather than claim one at a time.
        if (this.#backlog && this.#running.size <= this.#options.concurrency / 2) this.#wake?.();
      });
    this.#running.set(delivery.id, attempt);
  }

  async #attempt(delivery: Delivery, event: () => KnownEvent | null): Promise<void> {
    const { store, guards } = this.#options;
    const admission = guards.admit(delivery.target, this.#rateLimitOf(delivery));
    if (!admission.admitted) {
      await store.transaction((tx) => tx.deferDelivery(this.owner, delivery.id, new Date(admission.retryAt)));
      return;
    }
    const parent = contextFrom(delivery.traceContext);
    const span = tracer.startSpan(attemptSpanName(delivery.plugin), INTERNAL, parent);
    try {
      await this.#attemptIn(delivery, event, admission.release, span, contextWithSpan(parent, span));
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** One attempt, run with `span` active in `spanContext`. */
  async #attemptIn(delivery: Delivery, eventOf: () => KnownEvent | null, release: () => void, span: Span, spanContext: Context): Promise<void> {
    const { store, plugins, guards, log, metrics } = this.#options;
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
      await guards.run(delivery.target, () =>
        // The plugin runs with the attempt's span active: what it traces (the http plugin's request) joins in.
        context.with(spanContext, () =>
          invokePlugin(
            plugin,
            delivery.params,
            (cancel) =>
              pluginContext(
                {
                  event: event.body,
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
            this.#stop.signal,
          ),
        ),
      );
      verdict = { state: 'succeeded' };
    } catch (error) {
      if (error instanceof CircuitOpenError || this.#stop.signal.aborted) {
        const snapshot = guards.snapshot().find((target) => target.target === delivery.target);
        const dueAt = snapshot?.probeAt ?? new Date();
        await store.transaction((tx) => tx.deferDelivery(this.owner, delivery.id, dueAt));
        // Not an attempt: none was consumed, and the delivery is tried again at dueAt.
        if (span.isRecording()) span.setAttribute('switchboard.delivery.outcome', 'deferred');
        return;
      }
      if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) throw error;
      failure = describeFailure(error);
      failSpan(span, error);
      disableTarget = (error as { disableTarget?: unknown }).disableTarget === true;
      verdict = this.#afterFailure(delivery, number, error);
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
    const recorded =
      verdict.state === 'dead'
        ? await store.transaction(async (tx) => {
            if (!(await tx.completeAttempt(this.owner, attempt, verdict))) return false;
            if (disableTarget) await tx.setTargetDisabled(delivery.target, true, `${failure?.code}: ${failure?.message}`);
            queued = await this.#announceDead(tx, delivery, source?.body, number, failure, spanContext);
            return true;
          })
        : await store.completeAttempt(this.owner, attempt, verdict);
    if (span.isRecording()) {
      span.setAttribute('switchboard.delivery.outcome', verdict.state);
      if (attempt.statusCode !== undefined) span.setAttribute('switchboard.delivery.status_code', attempt.statusCode);
    }
    if (!recorded) {
      log.warn({ delivery_id: delivery.id, ...traceFields }, 'lost the lease before the attempt was recorded; another worker runs it');
    }
    metrics.attempt(delivery.ruleId, delivery.plugin, verdict.state, attempt.durationMs / 1000);
    if (recorded && verdict.state === 'dead') metrics.deadLetter(delivery.ruleId, delivery.plugin);
    log.info(
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
    if (queued) this.wake();
  }

  #afterFailure(delivery: Delivery, number: number, error: unknown): AttemptVerdict {
    if (!isRetryable(error) || number >= delivery.maxAttempts) return { state: 'dead' };
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
    const delay = retryDelay({
      delays: delivery.retrySchedule,
      nextAttempt: number + 1,
      retryAfterMs: typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
      random: this.#options.random,
    });
    return { state: 'failed-waiting-retry', dueAt: new Date(Date.now() + delay) };
  }

  /** Emits `switchboard.delivery_dead` through the rules, in the same transaction that made the delivery dead. */
  async #announceDead(
    tx: StoreTx,
    delivery: Delivery,
    original: LiveKitEvent | undefined,
    attempts: number,
    lastError: { code: string; message: string } | undefined,
    parent: Context,
  ): Promise<boolean> {
    // A notification about a dead notification would chase itself.
    if (delivery.eventName.startsWith('switchboard.')) return false;
    const event: LiveKitEvent = {
      event: DELIVERY_DEAD_EVENT,
      id: `SB_${randomUUID()}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      ...(original?.room && { room: original.room }),
      ...(original?.participant && { participant: original.participant }),
      delivery: {
        id: delivery.id,
        ruleId: delivery.ruleId,
        actionIndex: delivery.actionIndex,
        plugin: delivery.plugin,
        target: delivery.target,
        attempts,
        lastError: lastError ?? null,
        eventId: delivery.eventId,
        eventName: delivery.eventName,
      },
    };
    const result = await this.#options.ingestion.ingestWithin(tx, {
      body: Buffer.from(JSON.stringify(event)),
      event,
      apiKey: 'switchboard',
      receivedAt: new Date(),
    }, parent);
    return result.actions.some((action) => action.status === 'queued');
  }

  /** The rate limit in force for the delivery's action: rule changes apply to deliveries already queued. */
  #rateLimitOf(delivery: Delivery): RateLimit | undefined {
    return rulesById(this.#options.currentRules()).get(delivery.ruleId)?.actions[delivery.actionIndex]?.rateLimit;
  }

  async #renewLeases(): Promise<void> {
    if (this.#running.size === 0) return;
    try {
      await this.#options.store.transaction((tx) =>
        tx.extendLeases(this.owner, [...this.#running.keys()], new Date(Date.now() + this.#options.leaseMs)),
      );
    } catch (error) {
      this.#options.log.error({ err: error }, 'renewing delivery leases failed');
    }
  }
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

/** The event as the claim read it; null when it is not in the store, which the attempt then reports. */
function claimedEvent(delivery: ClaimedDelivery): KnownEvent | null {
  if (delivery.event === null) return null;
  return {
    body: JSON.parse(delivery.event.body) as LiveKitEvent,
    ordering: { id: delivery.eventId, name: delivery.eventName, createdAt: delivery.event.createdAt, seq: delivery.eventSeq },
  };
}
