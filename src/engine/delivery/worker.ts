/**
 * The delivery worker: a fixed number of slots for attempts, filled by the claim loop (ClaimLoop) with due deliveries
 * from the store and by the local hand-off (LocalHandoff) with deliveries this process has just queued, under leases
 * the LeaseKeeper renews while their attempts (attemptRunner) run. Waiting is always a due time in the store, never
 * a sleeping promise, so a crash loses no schedule.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Delivery } from '../../store/store.ts';
import { attemptRunner, type AttemptDependencies, type AttemptEnd, type KnownEvent, type RunAttempt } from './attempt.ts';
import { ClaimLoop, claimedEvent } from './claim-loop.ts';
import { LocalHandoff, type Reservation } from './handoff.ts';
import { LeaseKeeper } from './lease-keeper.ts';

/** What the attempts need (the store, plugins, guards, rules, dead-letter announcer …), and the worker's sizes. */
interface WorkerOptions extends Omit<AttemptDependencies, 'owner' | 'stop' | 'onQueued' | 'claimsNext'> {
  /** Attempts running at once in this process. */
  concurrency: number;
  /** How often an idle worker looks for due deliveries (it is also woken when deliveries are queued here). */
  pollIntervalMs: number;
  /** How long a claim holds a delivery; renewed while its attempt runs. */
  leaseMs: number;
}

export class DeliveryWorker {
  /** Names this worker's leases in the store. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #options: WorkerOptions;
  /** The attempts running, by delivery id. */
  readonly #running = new Map<number, Promise<void>>();
  readonly #stop = new AbortController();
  readonly #claims: ClaimLoop;
  readonly #handoff: LocalHandoff;
  readonly #leases: LeaseKeeper;
  readonly #attempt: RunAttempt;
  /** Stops the wake-ups from other replicas' finished ordering groups. */
  #unwatch: (() => Promise<void>) | undefined;

  constructor(options: WorkerOptions) {
    this.#options = options;
    const { store, guards, log, leaseMs } = options;
    const { owner } = this;
    this.#leases = new LeaseKeeper({ store, owner, leaseMs, log, held: this.#running });
    this.#claims = new ClaimLoop({
      store,
      owner,
      leaseMs,
      pollIntervalMs: options.pollIntervalMs,
      concurrency: options.concurrency,
      log,
      freeSlots: () => options.concurrency - this.#running.size - this.#handoff.held,
      skipTargets: () => guards.blocked(),
      run: (delivery) => this.#track(delivery, () => claimedEvent(delivery)),
    });
    this.#handoff = new LocalHandoff(
      () => this.#leases.lease(),
      (delivery, event) => this.#track(delivery, () => event),
    );
    this.#attempt = attemptRunner({
      ...options,
      owner,
      stop: this.#stop.signal,
      onQueued: () => this.wake(),
      claimsNext: () => (this.#claims.claiming ? { leaseMs, skipTargets: guards.blocked() } : null),
    });
  }

  get running(): boolean {
    return this.#claims.started && !this.#stop.signal.aborted;
  }

  start(): void {
    if (this.#claims.started) return;
    this.#claims.start();
    this.#leases.start();
    const { store, log } = this.#options;
    this.#unwatch = store.watchFinishedGroups(this.owner, () => this.wake(), (error) => {
      log.warn({ err: error }, 'lost the wake-ups of other replicas; their ordering groups wait for the poll until reconnected');
    });
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    this.#claims.wake();
  }

  /**
   * Holds a slot for a delivery to `target` that a transaction is queueing, so that it is written already leased to
   * this worker and starts as soon as the transaction commits, with no claim (see LocalHandoff). Null when the
   * worker is not running or stopping, has no free slot, or the target is blocked: the delivery is then written
   * pending and claimed as usual.
   */
  reserve(target: string): Reservation | null {
    if (!this.#claims.claiming) return null;
    if (this.#running.size + this.#handoff.held >= this.#options.concurrency || this.#options.guards.blocks(target)) return null;
    return this.#handoff.hold();
  }

  /**
   * Stops claiming, lets running attempts finish until `deadlineMs`, then aborts the rest and gives their
   * deliveries back without consuming an attempt.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.#claims.started) return;
    const abandon = setTimeout(() => this.#stop.abort(), deadlineMs);
    await this.#claims.stop();
    // An attempt ending meanwhile may have started its group's next (claimed with its completion): wait for it too.
    while (this.#running.size > 0) await Promise.allSettled(this.#running.values());
    clearTimeout(abandon);
    this.#stop.abort();
    await Promise.all([this.#leases.stop(), this.#unwatch?.()]);
  }

  /** Runs an attempt of `delivery` in a slot; `event` gives its event (see RunAttempt). */
  #track(delivery: Delivery, event: () => KnownEvent | null): void {
    const attempt = this.#attempt(delivery, event)
      .catch((error: unknown): AttemptEnd => {
        this.#options.log.error({ err: error, delivery_id: delivery.id }, 'recording a delivery attempt failed; its lease will expire and it runs again');
        return { finished: false, next: null };
      })
      .then(({ finished, next }) => {
        this.#running.delete(delivery.id);
        // The group's next, claimed by the completion, takes the slot this attempt leaves.
        if (next !== null) this.#track(next, () => claimedEvent(next));
        this.#claims.attemptEnded(this.#running.size, finished && next === null && delivery.orderingKey !== null);
      });
    this.#running.set(delivery.id, attempt);
  }
}
