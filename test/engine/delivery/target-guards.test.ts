import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../../src/plugins/contract.ts';
import { isRetryable } from '../../../src/engine/run-action.ts';
import { CircuitOpenError, TargetGuards } from '../../../src/engine/delivery/target-guards.ts';

const TARGET = 'https://hooks.example.com';
const fail = () => Promise.reject(new RetryableError('503'));
const succeed = () => Promise.resolve('ok');

describe('target guards', () => {
  let guards: TargetGuards;
  afterEach(() => guards.close());

  it('opens the circuit after consecutive failures and refuses attempts while open', async () => {
    guards = new TargetGuards({ circuit: { consecutiveFailures: 3, resetMs: 60_000 }, isFailure: isRetryable });
    for (let i = 0; i < 3; i++) await expect(guards.run(TARGET, fail)).rejects.toThrow('503');
    await expect(guards.run(TARGET, succeed)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(guards.blocked()).toEqual([TARGET]);
    const [snapshot] = guards.snapshot();
    expect(snapshot).toMatchObject({ target: TARGET, circuit: 'open', consecutiveFailures: 3 });
    expect(snapshot.probeAt!.getTime()).toBeGreaterThan(Date.now());
  });

  it('does not count permanent failures against the target', async () => {
    guards = new TargetGuards({ circuit: { consecutiveFailures: 2 }, isFailure: isRetryable });
    for (let i = 0; i < 5; i++) {
      await expect(guards.run(TARGET, () => Promise.reject(new PermanentError('400')))).rejects.toThrow('400');
    }
    expect(guards.blocked()).toEqual([]);
  });

  it('opens on the failure rate once the window holds enough attempts', async () => {
    guards = new TargetGuards({
      circuit: { consecutiveFailures: 100, failureRatePercent: 50, minimumAttempts: 10 },
      isFailure: isRetryable,
    });
    for (let i = 0; i < 12; i++) await guards.run(TARGET, i % 3 === 0 ? succeed : fail).catch(() => undefined);
    expect(guards.snapshot()[0].circuit).toBe('open');
  });

  it('lets one probe through when half-open and closes on its success', async () => {
    guards = new TargetGuards({ circuit: { consecutiveFailures: 1, resetMs: 30 }, isFailure: isRetryable });
    await expect(guards.run(TARGET, fail)).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(guards.snapshot()[0].circuit).toBe('half-open');
    let releaseProbe!: () => void;
    const probe = guards.run(TARGET, () => new Promise<void>((resolve) => (releaseProbe = resolve)));
    expect(guards.blocked()).toEqual([TARGET]);
    await expect(guards.run(TARGET, succeed)).rejects.toBeInstanceOf(CircuitOpenError);
    releaseProbe();
    await probe;
    expect(guards.snapshot()[0].circuit).toBe('closed');
    expect(guards.blocked()).toEqual([]);
  });

  it('admits attempts up to the rate and says when the next one may start', () => {
    guards = new TargetGuards({ isFailure: isRetryable });
    const now = 1_000_000;
    const limit = { perSecond: 2 };
    expect(guards.admit(TARGET, limit, now).admitted).toBe(true);
    expect(guards.admit(TARGET, limit, now).admitted).toBe(true);
    const third = guards.admit(TARGET, limit, now);
    expect(third).toEqual({ admitted: false, retryAt: now + 500 });
    expect(guards.blocked(now)).toEqual([TARGET]);
    expect(guards.admit(TARGET, limit, now + 500).admitted).toBe(true);
  });

  it('admits at most `concurrency` attempts at once', () => {
    guards = new TargetGuards({ isFailure: isRetryable });
    const limit = { concurrency: 1 };
    const first = guards.admit(TARGET, limit);
    expect(first.admitted).toBe(true);
    expect(guards.admit(TARGET, limit).admitted).toBe(false);
    if (first.admitted) first.release();
    expect(guards.admit(TARGET, limit).admitted).toBe(true);
  });

  it('forgets failures when reset', async () => {
    guards = new TargetGuards({ circuit: { consecutiveFailures: 1 }, isFailure: isRetryable });
    await guards.run(TARGET, fail).catch(() => undefined);
    guards.reset(TARGET);
    expect(guards.snapshot()[0]).toMatchObject({ circuit: 'closed', consecutiveFailures: 0 });
  });
});

describe('idle target guards', () => {
  let guards: TargetGuards;
  afterEach(() => guards.close());
  const WINDOW_MS = 60_000;

  it('are forgotten after a circuit window without attempts, however many targets passed through', async () => {
    guards = new TargetGuards({ circuit: { windowMs: WINDOW_MS, consecutiveFailures: 2 }, isFailure: isRetryable });
    const start = Date.now();
    for (let port = 1; port <= 4_000; port++) {
      const target = `https://hooks.example.com:${port}`;
      const admission = guards.admit(target, undefined, start);
      if (!admission.admitted) throw new Error('admitted expected');
      await guards.run(target, succeed);
      admission.release();
    }
    expect(guards.size).toBe(4_000);
    expect(guards.blocked(start + WINDOW_MS / 2)).toEqual([]);
    expect(guards.size).toBe(4_000);
    guards.blocked(Date.now() + WINDOW_MS);
    expect(guards.size).toBe(0);
  });

  it('keep an open circuit and a running attempt, however long idle', async () => {
    guards = new TargetGuards({ circuit: { windowMs: WINDOW_MS, consecutiveFailures: 2, resetMs: 10 * WINDOW_MS }, isFailure: isRetryable });
    for (let i = 0; i < 2; i++) await expect(guards.run(TARGET, fail)).rejects.toThrow('503');
    const running = guards.admit('https://slow.example.com', undefined);
    expect(running.admitted).toBe(true);
    expect(guards.blocked(Date.now() + 2 * WINDOW_MS)).toEqual([TARGET]);
    expect(guards.snapshot().map(({ target }) => target).sort()).toEqual(['https://hooks.example.com', 'https://slow.example.com']);
  });
});
