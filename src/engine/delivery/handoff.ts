/**
 * The local hand-off: a delivery this process queues, due at once, is written already leased to this process's
 * worker and given to it after the commit with its event in memory, so that it starts without a claim (see
 * StoreTx.enqueueDelivery). From the moment it is offered until the transaction settles, it holds a worker slot.
 */
import type { Delivery, DeliveryLease } from '../../store/store.ts';
import type { KnownEvent } from './attempt.ts';

/** A slot held for a delivery being queued by a transaction not yet committed. */
export interface Reservation {
  lease: DeliveryLease;
  /** The transaction committed the delivery leased to this worker: its attempt starts now. */
  adopt(delivery: Delivery, event: KnownEvent): void;
  /** The delivery was written without the lease, or not at all. */
  release(): void;
}

export class LocalHandoff {
  readonly #lease: () => DeliveryLease;
  readonly #adopt: (delivery: Delivery, event: KnownEvent) => void;
  #held = 0;

  /** `lease`: the lease a delivery is written under; `adopt`: starts the attempt of an adopted delivery. */
  constructor(lease: () => DeliveryLease, adopt: (delivery: Delivery, event: KnownEvent) => void) {
    this.#lease = lease;
    this.#adopt = adopt;
  }

  /** Slots held by reservations not yet settled. */
  get held(): number {
    return this.#held;
  }

  /** Holds a slot (the worker has checked that one is free) until the reservation is adopted or released. */
  hold(): Reservation {
    this.#held += 1;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#held -= 1;
    };
    return {
      lease: this.#lease(),
      adopt: (delivery, event) => {
        release();
        this.#adopt(delivery, event);
      },
      release,
    };
  }
}
