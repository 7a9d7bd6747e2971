import { describe, expect, it } from 'vitest';
import { LATENCY_BOUNDS_MS, latencyBucketOf, latencyQuantile, summarizeLatency } from '../../../src/engine/rollup/latency-histogram.ts';

describe('latency histograms', () => {
  it('puts a duration in the bucket of the first bound at or above it', () => {
    expect(latencyBucketOf(0)).toBe(1);
    expect(latencyBucketOf(1)).toBe(1);
    expect(latencyBucketOf(1.2)).toBe(2);
    expect(latencyBucketOf(100)).toBe(100);
    expect(latencyBucketOf(101)).toBe(150);
  });

  it('counts a duration past the last bound in the last bucket', () => {
    expect(latencyBucketOf(700_000)).toBe(LATENCY_BOUNDS_MS.at(-1));
  });

  it('has log-spaced bounds in increasing order', () => {
    for (let i = 1; i < LATENCY_BOUNDS_MS.length; i++) {
      expect(LATENCY_BOUNDS_MS[i] / LATENCY_BOUNDS_MS[i - 1]).toBeGreaterThan(1.3);
      expect(LATENCY_BOUNDS_MS[i] / LATENCY_BOUNDS_MS[i - 1]).toBeLessThanOrEqual(2.5);
    }
  });

  it('places a percentile within its bucket as if the bucket were spread evenly', () => {
    // 10 attempts in (70, 100] and 10 in (100, 150]: the median is the top of the first bucket.
    const buckets = [{ leMs: 150, count: 10 }, { leMs: 100, count: 10 }];
    expect(latencyQuantile(buckets, 0.5)).toBe(100);
    expect(latencyQuantile(buckets, 0.25)).toBe(85);
    expect(latencyQuantile(buckets, 0.95)).toBe(145);
  });

  it('reads the first bucket from zero', () => {
    expect(latencyQuantile([{ leMs: 1, count: 4 }], 0.5)).toBe(0.5);
  });

  it('sums the attempts and gives p50 and p95, or null when there were none', () => {
    expect(summarizeLatency([{ leMs: 50, count: 10 }, { leMs: 500, count: 10 }])).toEqual({ attempts: 20, p50Ms: 50, p95Ms: 480 });
    expect(summarizeLatency([])).toBeNull();
    expect(summarizeLatency([{ leMs: 50, count: 0 }])).toBeNull();
  });
});
