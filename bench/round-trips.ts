/**
 * Round trips the Switchboards under test made to PostgreSQL, asked of each replica over IPC (servers/switchboard.ts
 * answers with its store's counts): what ingest and delivery cost in waits on the database, whatever else the
 * machine is doing.
 */
import type { RoundTripKind, RoundTripTally } from '../src/store/postgres/round-trips.ts';
import type { ServerProcess } from './server-process.ts';

export type RoundTripCounts = Record<RoundTripKind, RoundTripTally>;

export const ROUND_TRIPS_QUESTION = { type: 'round trips' } as const;

/** `perWebhook`: the ingests' round trips per ingest; `perDelivery`: those of transactions and completions per completion. */
export type RoundTripReport = { perWebhook: number; perDelivery: number; counts: RoundTripCounts };

/** The replicas' counts added up; null when their store counts none (SQLite). */
export async function countRoundTrips(servers: readonly ServerProcess[]): Promise<RoundTripCounts | null> {
  const answers = await Promise.all(servers.map((server) => server.ask<RoundTripCounts | null>(ROUND_TRIPS_QUESTION)));
  return answers.some((answer) => answer === null) ? null : combine(answers as RoundTripCounts[], 1);
}

/** What was counted from `before` to `after`. */
export function roundTripReport(before: RoundTripCounts, after: RoundTripCounts): RoundTripReport {
  const counts = combine([after, before], -1);
  const { ingest, transaction, completion } = counts;
  return { perWebhook: ingest.roundTrips / ingest.operations, perDelivery: (transaction.roundTrips + completion.roundTrips) / completion.operations, counts };
}

/** The first counts plus (sign 1) or minus (sign -1) each of the others. */
function combine([first, ...others]: RoundTripCounts[], sign: 1 | -1): RoundTripCounts {
  const sum = (kind: RoundTripKind, field: keyof RoundTripTally) => others.reduce((total, counts) => total + sign * counts[kind][field], first[kind][field]);
  const kinds = Object.keys(first) as RoundTripKind[];
  return Object.fromEntries(kinds.map((kind) => [kind, { operations: sum(kind, 'operations'), roundTrips: sum(kind, 'roundTrips') }])) as RoundTripCounts;
}
