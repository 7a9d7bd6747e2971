/**
 * The claim loop: while the worker has free slots, claims due deliveries for them (at most one claim every
 * MIN_CLAIM_GAP_MS); otherwise waits until it is woken (deliveries queued here, an ordering group freed here or by
 * another replica, slots freed with a backlog) or until the next poll.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LiveKitEvent } from '../../livekit/event-types.ts';
import type { ClaimedDelivery, Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { KnownEvent } from './attempt.ts';

/**
 * The least time between two claims. A claim is a query costing about as much as several attempts' bookkeeping;
 * under steady traffic every commit that queues deliveries wakes the worker, and claiming at each wake-up would
 * take them one or two at a time.
 */
const MIN_CLAIM_GAP_MS = 5;

interface ClaimLoopOptions {
  store: Store;
  /** The worker the claimed deliveries are leased to. */
  owner: string;
  leaseMs: number;
  pollIntervalMs: number;
  /** The worker's slots, free or not. */
  concurrency: number;
  log: Logger;
  /** Slots free for claimed deliveries now. */
  freeSlots: () => number;
  /** Targets whose deliveries are left in the store for now (their circuit is open, or their rate spent). */
  skipTargets: () => string[];
  /** Starts the attempt of a claimed delivery. */
  run: (delivery: ClaimedDelivery) => void;
}

export class ClaimLoop {
  readonly #options: ClaimLoopOptions;
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  /** Whether due deliveries may be waiting in the store, so a slot freeing up is worth a claim. */
  #backlog = true;

  constructor(options: ClaimLoopOptions) {
    this.#options = options;
  }

  get started(): boolean {
    return this.#loop !== undefined;
  }

  /** Started and not stopping. */
  get claiming(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Looks for due deliveries now instead of at the next poll. */
  wake(): void {
    this.#backlog = true;
    this.#wake?.();
  }

  /**
   * An attempt ended, leaving `running` attempts; `groupFreed`: it finished a delivery of an ordering group, whose
   * next delivery may now be claimed.
   */
  attemptEnded(running: number, groupFreed: boolean): void {
    // The group's next runs at once, not at the poll: a room's deliveries would otherwise go one per poll interval.
    if (groupFreed) this.wake();
    // A claim is a query: wait until half the slots are free (or the poll) rather than claim one at a time.
    else if (this.#backlog && running <= this.#options.concurrency / 2) this.#wake?.();
  }

  /** Stops claiming; resolves once the claim in progress, if any, has handed over its deliveries. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { store, owner, leaseMs, log, freeSlots, skipTargets, run } = this.#options;
    let lastClaimAt = -Infinity;
    while (!this.#stopping) {
      const sinceLastClaim = performance.now() - lastClaimAt;
      if (sinceLastClaim < MIN_CLAIM_GAP_MS) await sleep(MIN_CLAIM_GAP_MS - sinceLastClaim);
      // stop() may have come during the gap, when there was no idle wait for its wake-up to end.
      if (this.#stopping) break;
      const free = freeSlots();
      let claimed: ClaimedDelivery[] = [];
      if (free > 0) {
        lastClaimAt = performance.now();
        // A claim that fills every free slot may have left more behind.
        this.#backlog = false;
        try {
          claimed = await store.claimDueDeliveries({ owner, now: new Date(), limit: free, leaseMs, skipTargets: skipTargets() });
        } catch (error) {
          log.error({ err: error }, 'claiming deliveries failed; trying again at the next poll');
        }
        for (const delivery of claimed) run(delivery);
        if (claimed.length === free) this.#backlog = true;
      }
      // A wake-up during the claim (a group freed after the claim read the queue) calls for another claim now.
      if (free <= 0 || (claimed.length < free && !this.#backlog)) await this.#idle();
    }
  }

  #idle(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** The event as the claim read it; null when it is not in the store, which the attempt then reports. */
export function claimedEvent(delivery: ClaimedDelivery): KnownEvent | null {
  if (delivery.event === null) return null;
  return {
    payload: JSON.parse(delivery.event.body) as LiveKitEvent,
    ordering: { id: delivery.eventId, name: delivery.eventName, createdAt: delivery.event.createdAt, seq: delivery.eventSeq },
  };
}
