import { afterEach, describe, expect, it } from 'vitest';
import { ClaimLoop } from '../../../src/engine/delivery/claim-loop.ts';
import { openStore } from '../../../src/store/open.ts';
import type { Store } from '../../../src/store/store.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';

describe('the claim loop', () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('stops at once when stop() comes in the least gap between two claims, with every slot taken meanwhile', async () => {
    store = await openStore('file::memory:');
    await store.migrate();
    let slots = 1;
    let claims = 0;
    let stopped: Promise<void> | undefined;
    const counting: Store = Object.create(store) as Store;
    counting.claimDueDeliveries = async (request) => {
      const result = await store!.claimDueDeliveries(request);
      if (++claims === 1) {
        // Woken during its first claim, the loop claims again, after the least gap between claims (5 ms); stop()
        // comes during that gap, and the slot is taken meanwhile (now: a claim slower than the gap leaves none).
        loop.wake();
        slots = 0;
        setImmediate(() => {
          stopped = loop.stop();
        });
      }
      return result;
    };
    const loop = new ClaimLoop({
      store: counting,
      owner: 'test',
      leaseMs: 30_000,
      pollIntervalMs: 3_600_000,
      concurrency: 1,
      log: createLogger({ level: 'silent' }),
      freeSlots: () => slots,
      skipTargets: () => [],
      run: () => undefined,
    });
    loop.start();
    while (stopped === undefined) await new Promise((resolve) => setImmediate(resolve));
    await stopped;
    expect(loop.claiming).toBe(false);
    expect(claims).toBe(1);
  });
});
