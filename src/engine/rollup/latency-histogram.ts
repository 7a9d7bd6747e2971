/**
 * Pure: delivery attempts' durations as histograms over fixed, log-spaced bounds, and the percentiles read back from
 * summed buckets. A bucket is named by its upper bound in ms (inclusive), the name the store keeps it under.
 */

/** Roughly 1, 1.5, 2, 3, 5, 7 per decade, up to an attempt's longest timeout (10 minutes). */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 10_000,
  15_000, 20_000, 30_000, 60_000, 120_000, 300_000, 600_000,
];

/** Attempts in one bucket: those that took more than the bound below `leMs` and at most `leMs`. */
export interface LatencyBucket {
  leMs: number;
  count: number;
}

export interface LatencySummary {
  attempts: number;
  p50Ms: number;
  p95Ms: number;
}

/** The bucket a duration falls in; one past the last bound (an attempt's overhead past its timeout) counts in the last. */
export function latencyBucketOf(ms: number): number {
  return LATENCY_BOUNDS_MS.find((bound) => ms <= bound) ?? LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1];
}

/**
 * The duration under which a fraction `q` of the attempts fell, placed within its bucket as if the bucket's
 * attempts were spread evenly over it (as Prometheus' histogram_quantile does); null when there are none.
 */
export function latencyQuantile(buckets: readonly LatencyBucket[], q: number): number | null {
  const sorted = buckets.filter((bucket) => bucket.count > 0).sort((a, b) => a.leMs - b.leMs);
  const total = sorted.reduce((sum, bucket) => sum + bucket.count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (const bucket of sorted) {
    if (below + bucket.count >= rank) {
      const lower = lowerBoundOf(bucket.leMs);
      return lower + (bucket.leMs - lower) * ((rank - below) / bucket.count);
    }
    below += bucket.count;
  }
  return sorted[sorted.length - 1].leMs;
}

/** How many attempts the buckets hold, with their p50 and p95; null when none. */
export function summarizeLatency(buckets: readonly LatencyBucket[]): LatencySummary | null {
  const p50 = latencyQuantile(buckets, 0.5);
  const p95 = latencyQuantile(buckets, 0.95);
  if (p50 === null || p95 === null) return null;
  return { attempts: buckets.reduce((sum, bucket) => sum + bucket.count, 0), p50Ms: p50, p95Ms: p95 };
}

function lowerBoundOf(leMs: number): number {
  return LATENCY_BOUNDS_MS.findLast((bound) => bound < leMs) ?? 0;
}
