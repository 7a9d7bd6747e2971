/**
 * Keeps a worker's leases: hands out the lease a delivery is taken under, renews the leases of the deliveries the
 * worker is running (a third of the lease at a time) so that no other worker claims them meanwhile, and gives back
 * those still held at shutdown, without consuming an attempt.
 */
import type { DeliveryLease, Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';

interface LeaseKeeperOptions {
  store: Store;
  /** The worker the leases are held for. */
  owner: string;
  leaseMs: number;
  log: Logger;
  /** The deliveries held now (the worker's running attempts, by delivery id). */
  held: { readonly size: number; keys(): IterableIterator<number> };
}

export class LeaseKeeper {
  readonly #options: LeaseKeeperOptions;
  #renewal: NodeJS.Timeout | undefined;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
  }

  /** A lease taken now. */
  lease(): DeliveryLease {
    return { owner: this.#options.owner, expiresAt: new Date(Date.now() + this.#options.leaseMs) };
  }

  start(): void {
    this.#renewal ??= setInterval(() => void this.#renew(), Math.max(50, this.#options.leaseMs / 3));
  }

  /** Stops renewing and gives back every lease the owner still holds. */
  async stop(): Promise<void> {
    const { store, owner, log } = this.#options;
    clearInterval(this.#renewal);
    try {
      const released = await store.transaction((tx) => tx.releaseLeases(owner));
      if (released > 0) log.warn({ released }, 'gave back deliveries still leased at shutdown');
    } catch (error) {
      // Leases left behind expire by themselves, and other workers then run those deliveries.
      log.error({ err: error }, 'could not give back leases at shutdown');
    }
  }

  async #renew(): Promise<void> {
    const { store, owner, leaseMs, held, log } = this.#options;
    if (held.size === 0) return;
    try {
      await store.transaction((tx) => tx.extendLeases(owner, [...held.keys()], new Date(Date.now() + leaseMs)));
    } catch (error) {
      log.error({ err: error }, 'renewing delivery leases failed');
    }
  }
}
