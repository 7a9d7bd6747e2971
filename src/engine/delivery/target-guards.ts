/**
 * Protects each target (the system an action calls) in this process: a circuit breaker (opossum) that opens after
 * consecutive failures or a failure rate and probes when half-open, and a rate limit (attempts per second and at
 * once). A blocked target's deliveries are simply not claimed, so waiting never consumes an attempt. A target's
 * guard is forgotten once idle for a circuit window with its circuit closed and nothing running: templated URLs can
 * name targets without end, and a guard costs a breaker with its timers.
 */
import CircuitBreaker from 'opossum';
import { DEFAULT_CIRCUIT, type CircuitOptions } from '../../config.ts';
import type { RateLimit } from '../../rules/types.ts';

type CircuitState = 'closed' | 'open' | 'half-open';

export interface TargetSnapshot {
  target: string;
  circuit: CircuitState;
  consecutiveFailures: number;
  /** When an open circuit lets its next probe through. */
  probeAt: Date | null;
  rateLimit: RateLimit | null;
  running: number;
  /** Attempts admitted since the guard was made: the target's traffic. */
  admitted: number;
}

/** Thrown by `run` when the circuit refused the attempt: the delivery waits, its attempt is not consumed. */
export class CircuitOpenError extends Error {
  readonly target: string;
  constructor(target: string) {
    super(`the circuit for ${target} is open`);
    this.target = target;
  }
}

type Admission = { admitted: true; release: () => void } | { admitted: false; retryAt: number };

interface Guard {
  breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  consecutiveFailures: number;
  running: number;
  /** When the circuit last opened: its probe is due resetMs later. */
  openedAt: number;
  /** Token bucket: tokens left and when they were last topped up. */
  tokens: number;
  refilledAt: number;
  limit: RateLimit | null;
  admitted: number;
  /** When an attempt last started or ended here. */
  usedAt: number;
}

export class TargetGuards {
  readonly #circuit: CircuitOptions;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #onOpen: ((target: string, probeAt: Date) => void) | undefined;
  readonly #guards = new Map<string, Guard>();

  /**
   * `isFailure` says which errors count against a target's health (a rejected request does not); `onOpen` hears of
   * each circuit that opens (or opens again after a failed probe).
   */
  constructor(options: {
    circuit?: Partial<CircuitOptions>;
    isFailure: (error: unknown) => boolean;
    onOpen?: (target: string, probeAt: Date) => void;
  }) {
    this.#circuit = { ...DEFAULT_CIRCUIT, ...options.circuit };
    this.#isFailure = options.isFailure;
    this.#onOpen = options.onOpen;
  }

  /**
   * Targets that must not be claimed for now: circuit open (or probing), rate or concurrency used up. Called before
   * every claim, it also forgets the guards gone idle.
   */
  blocked(now = Date.now()): string[] {
    const blocked: string[] = [];
    for (const [target, guard] of this.#guards) {
      if (this.#idle(guard, now)) this.#forget(target, guard);
      else if (this.blocks(target, now)) blocked.push(target);
    }
    return blocked;
  }

  /** Targets with a guard in this process. */
  get size(): number {
    return this.#guards.size;
  }

  /** Whether `target` is among the blocked ones. */
  blocks(target: string, now = Date.now()): boolean {
    const guard = this.#guards.get(target);
    return guard !== undefined && (!this.#circuitAdmits(guard) || this.#waitFor(guard, now) > 0);
  }

  /** Takes a slot under the target's rate limit, or says when one frees up. */
  admit(target: string, limit: RateLimit | undefined, now = Date.now()): Admission {
    const guard = this.#guard(target);
    guard.limit = limit ?? null;
    const wait = this.#waitFor(guard, now);
    if (wait > 0) return { admitted: false, retryAt: now + wait };
    if (guard.limit?.perSecond) guard.tokens -= 1;
    guard.running += 1;
    guard.admitted += 1;
    guard.usedAt = now;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (!released) {
          guard.running -= 1;
          guard.usedAt = Date.now();
        }
        released = true;
      },
    };
  }

  /** Runs one attempt through the target's circuit; throws CircuitOpenError when the circuit refuses it. */
  async run<T>(target: string, attempt: () => Promise<T>): Promise<T> {
    const guard = this.#guard(target);
    if (!this.#circuitAdmits(guard)) throw new CircuitOpenError(target);
    try {
      return (await guard.breaker.fire(attempt)) as T;
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') throw new CircuitOpenError(target);
      throw error;
    }
  }

  /** Forgets the target's failures: used when an operator enables it again. */
  reset(target: string): void {
    const guard = this.#guards.get(target);
    if (!guard) return;
    guard.consecutiveFailures = 0;
    guard.breaker.close();
  }

  snapshot(): TargetSnapshot[] {
    return [...this.#guards].map(([target, guard]) => {
      const circuit: CircuitState = guard.breaker.opened ? 'open' : guard.breaker.halfOpen ? 'half-open' : 'closed';
      return {
        target,
        circuit,
        consecutiveFailures: guard.consecutiveFailures,
        // Not opossum's `lastTimerAt`: that is set once, when the breaker is made, not each time it opens.
        probeAt: circuit === 'open' ? this.#probeAt(guard) : null,
        rateLimit: guard.limit,
        running: guard.running,
        admitted: guard.admitted,
      };
    });
  }

  close(): void {
    for (const guard of this.#guards.values()) guard.breaker.shutdown();
    this.#guards.clear();
  }

  #probeAt(guard: Guard): Date {
    return new Date(guard.openedAt + this.#circuit.resetMs);
  }

  /**
   * Nothing to remember: no attempt running, circuit closed (its failures then only count within the window), unused
   * for a whole circuit window, so its rolling counts and its rate limit's bucket are back to empty and full.
   */
  #idle(guard: Guard, now: number): boolean {
    return guard.running === 0 && guard.breaker.closed && now - guard.usedAt >= this.#circuit.windowMs;
  }

  #forget(target: string, guard: Guard): void {
    guard.breaker.shutdown();
    this.#guards.delete(target);
  }

  #circuitAdmits(guard: Guard): boolean {
    const { breaker } = guard;
    return breaker.closed || (breaker.halfOpen && breaker.pendingClose);
  }

  /** Milliseconds until the rate limit lets another attempt start; 0 when it does now. */
  #waitFor(guard: Guard, now: number): number {
    const { limit } = guard;
    if (!limit) return 0;
    if (limit.concurrency !== undefined && guard.running >= limit.concurrency) return 10;
    if (limit.perSecond === undefined) return 0;
    guard.tokens = Math.min(limit.perSecond, guard.tokens + ((now - guard.refilledAt) / 1000) * limit.perSecond);
    guard.refilledAt = now;
    return guard.tokens >= 1 ? 0 : Math.ceil(((1 - guard.tokens) / limit.perSecond) * 1000);
  }

  #guard(target: string): Guard {
    let guard = this.#guards.get(target);
    if (guard) return guard;
    const breaker = new CircuitBreaker((attempt: () => Promise<unknown>) => attempt(), {
      timeout: false,
      errorThresholdPercentage: this.#circuit.failureRatePercent,
      volumeThreshold: this.#circuit.minimumAttempts,
      rollingCountTimeout: this.#circuit.windowMs,
      rollingCountBuckets: 10,
      resetTimeout: this.#circuit.resetMs,
      errorFilter: (error: unknown) => !this.#isFailure(error),
    });
    // The bucket starts full; its size is only known once a limit applies.
    const now = Date.now();
    const created: Guard = { breaker, consecutiveFailures: 0, running: 0, openedAt: 0, tokens: Infinity, refilledAt: now, limit: null, admitted: 0, usedAt: now };
    breaker.on('open', () => {
      created.openedAt = Date.now();
      this.#onOpen?.(target, this.#probeAt(created));
    });
    breaker.on('success', () => {
      created.consecutiveFailures = 0;
    });
    breaker.on('failure', () => {
      created.consecutiveFailures += 1;
      if (created.consecutiveFailures >= this.#circuit.consecutiveFailures) breaker.open();
    });
    this.#guards.set(target, created);
    return created;
  }
}
