import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { withDeadline, type Cancellation } from '../../src/engine/action-deadline.ts';

describe('withDeadline', () => {
  it('resolves with what the work returns, and aborts its signal once it has finished', async () => {
    let signal: AbortSignal | undefined;
    const value = await withDeadline(async (cancel) => {
      signal = cancel.signal;
      expect(signal.aborted).toBe(false);
      return 42;
    }, 1000);
    expect(value).toBe(42);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason.message).toBe('the action has finished');
  });

  it('rejects with E_PLUGIN_TIMEOUT when the work outlives its time, aborting its signal with the same error', async () => {
    let signal: AbortSignal | undefined;
    const outcome = withDeadline((cancel) => {
      signal = cancel.signal;
      return sleep(1000);
    }, 20);
    await expect(outcome).rejects.toMatchObject({ code: 'E_PLUGIN_TIMEOUT', retryable: true, message: 'the action did not finish within 20 ms' });
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason.code).toBe('E_PLUGIN_TIMEOUT');
  });

  it('gives a signal asked for after the deadline passed already aborted, and refuses further steps', async () => {
    let cancellation: Cancellation | undefined;
    await expect(
      withDeadline((cancel) => {
        cancellation = cancel;
        return sleep(200);
      }, 10),
    ).rejects.toMatchObject({ code: 'E_PLUGIN_TIMEOUT' });
    expect(cancellation!.signal.aborted).toBe(true);
    expect(() => cancellation!.throwIfAborted()).toThrow('the action did not finish within 10 ms');
  });

  it('rejects at once when the process stops it', async () => {
    const stop = new AbortController();
    const outcome = withDeadline(() => sleep(1000), 5000, stop.signal);
    stop.abort();
    await expect(outcome).rejects.toMatchObject({ code: 'E_PLUGIN_TIMEOUT', message: 'the process is shutting down' });
  });

  it('turns a synchronous throw into a rejection', async () => {
    await expect(
      withDeadline(() => {
        throw new Error('boom');
      }, 1000),
    ).rejects.toThrow('boom');
  });
});
