/**
 * Failed webhook verifications, limited per source address with a token bucket: each failure takes a token, tokens
 * come back at a steady rate, and an address without one is answered 429 before its body is read or hashed. Only
 * failures take tokens, so an address that sends valid deliveries is never held back.
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

interface Bucket {
  tokens: number;
  updatedMs: number;
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
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      if (this.buckets.size >= this.limits.maxAddresses) this.evict();
      bucket = { tokens: this.limits.burst, updatedMs: this.now() };
    } else {
      this.buckets.delete(address); // re-inserted below: the Map's order stays that of last use
    }
    bucket.tokens = Math.max(0, this.refill(bucket) - 1);
    this.buckets.set(address, bucket);
  }

  get size(): number {
    return this.buckets.size;
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
