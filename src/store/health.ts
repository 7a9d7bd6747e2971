/**
 * Whether the store's commits succeed, as the last one found. A store can answer reads (and a readiness ping) while
 * every commit fails: a full disk, a PostgreSQL server out of space. Readiness reads this so that the load
 * balancer stops sending webhooks that would be answered 503, until a commit succeeds again.
 */
import { isSwitchboardError } from '../errors.ts';

/** Set by a transaction once it has changed something: only such a commit shows that the store can write. */
export interface WriteMark {
  wrote: boolean;
}

/** The last commit's failure, and when it happened (milliseconds since the epoch). */
export interface CommitFailure {
  error: Error;
  at: number;
}

export class StoreHealth {
  #failure: CommitFailure | null = null;

  /** Why the last commit that wrote failed; null when it succeeded (or none has been tried). */
  get failure(): CommitFailure | null {
    return this.#failure;
  }

  /**
   * Follows one commit: its success clears a failure when the transaction wrote (a commit with nothing to write
   * succeeds on a full disk), its rejection as E_STORE_UNAVAILABLE records one. Other rejections are the
   * transaction's own (its work threw), which say nothing about the store.
   */
  watch<T>(commit: Promise<T>, mark: WriteMark): Promise<T> {
    return commit.then(
      (value) => {
        if (mark.wrote) this.#failure = null;
        return value;
      },
      (error: unknown) => {
        if (isSwitchboardError(error, 'E_STORE_UNAVAILABLE')) this.#failure = { error, at: Date.now() };
        throw error;
      },
    );
  }
}
