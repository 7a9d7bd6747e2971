/**
 * Round trips to PostgreSQL, by the kind of store operation that made them. Each statement is one: the driver sends
 * the next only once the server has answered the previous. Counting them measures what an operation costs in waits
 * on the network and the server, whatever else the machine is doing (the benchmark reports them per webhook and
 * per delivery).
 */

/** Ingests (one-statement or step by step), other transactions, one-statement completions and claims, reads. */
export type RoundTripKind = 'ingest' | 'transaction' | 'completion' | 'claim' | 'read';

export interface RoundTripTally {
  operations: number;
  roundTrips: number;
}

const KINDS: readonly RoundTripKind[] = ['ingest', 'transaction', 'completion', 'claim', 'read'];

export class RoundTrips {
  readonly #tally = new Map<RoundTripKind, RoundTripTally>(KINDS.map((kind) => [kind, { operations: 0, roundTrips: 0 }]));

  /** Counts one operation of `kind`; returns what counts each of its round trips. */
  start(kind: RoundTripKind): () => void {
    const tally = this.#tally.get(kind)!;
    tally.operations += 1;
    return () => {
      tally.roundTrips += 1;
    };
  }

  /** The counts so far, by kind. */
  snapshot(): Record<RoundTripKind, RoundTripTally> {
    return Object.fromEntries(KINDS.map((kind) => [kind, { ...this.#tally.get(kind)! }])) as Record<RoundTripKind, RoundTripTally>;
  }
}
