/**
 * Failed webhook verifications, limited per source address with a token bucket: each failure takes a token, tokens
 * come back at a steady rate, and an address without one is answered 429 before its body is read or hashed. Only
 * failures take tokens, so an address that sends valid deliveries is never held back. The log lines of those
 * failures are limited the same way, by a limiter of their own (`take`), so a flood of forgeries cannot fill the disk.
 *
 * Memory is bounded: a bucket that has refilled holds nothing worth keeping and is forgotten, and the table never
 * holds more than `maxAddresses` (the longest-idle go first).
 */

interface FailureLimits {
  /** Failures an address may have in a burst. */
  burst: number;
  /** Failures per second an address gets back. */
  refillPerSecond: number;
  maxAddresses: number;
}

// 20 failures at once, then one every 5 s: a misconfigured sender is heard again soon, a guesser gets nowhere.
export const DEFAULT_FAILURE_LIMITS: FailureLimits = { burst: 20, refillPerSecond: 0.2, maxAddresses: 10_000 };

// 5 lines at once, then 2 a second: 41k forged requests in 5 s from one address write 15 lines, not 35 MiB.
export const FAILURE_LOG_LIMITS: FailureLimits = { burst: 5, refillPerSecond: 2, maxAddresses: 10_000 };

interface Bucket {
  tokens: number;
  updatedMs: number;
  /** Takes refused since the last one granted. */
  refused: number;
}

export class FailureLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limits: FailureLimits;
  private readonly now: () => number;

  constructor(limits: FailureLimits = DEFAULT_FAILURE_LIMITS, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  /** Seconds until `address` may be heard again, or 0 when it may be now. */
  retryAfterSeconds(address: string): number {
    const bucket = this.buckets.get(address);
    if (bucket === undefined) return 0;
    const tokens = this.refill(bucket);
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.limits.refillPerSecond);
  }

  /** Takes a token from `address` for a failed verification. */
  recordFailure(address: string): void {
    const bucket = this.touch(address);
    bucket.tokens = Math.max(0, this.refill(bucket) - 1);
  }

  /**
   * Takes a token from `address` if it has one: `granted`, with how many takes were refused since the last granted
   * one; else the refusal is counted.
   */
  take(address: string): { granted: boolean; refusedBefore: number } {
    const bucket = this.touch(address);
    if (this.refill(bucket) < 1) {
      bucket.refused += 1;
      return { granted: false, refusedBefore: 0 };
    }
    bucket.tokens -= 1;
    const refusedBefore = bucket.refused;
    bucket.refused = 0;
    return { granted: true, refusedBefore };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** The bucket of `address`, made if need be, moved to the end of the Map: its order stays that of last use. */
  private touch(address: string): Bucket {
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      if (this.buckets.size >= this.limits.maxAddresses) this.evict();
      bucket = { tokens: this.limits.burst, updatedMs: this.now(), refused: 0 };
    } else {
      this.buckets.delete(address);
    }
    this.buckets.set(address, bucket);
    return bucket;
  }

  private refill(bucket: Bucket): number {
    const now = this.now();
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.limits.refillPerSecond);
    bucket.updatedMs = now;
    return bucket.tokens;
  }

  /** Forgets the longest-idle buckets that have refilled, and the longest idle one if none has: amortized O(1). */
  private evict(): void {
    for (const [address, bucket] of this.buckets) {
      if (this.refill(bucket) < this.limits.burst) break;
      this.buckets.delete(address);
    }
    if (this.buckets.size >= this.limits.maxAddresses) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
