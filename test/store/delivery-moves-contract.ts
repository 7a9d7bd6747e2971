/**
 * The delivery state machine, walked on a real store: every named move of DELIVERY_MOVES from every state, allowed
 * where the table says so (the delivery lands in one of the move's `to` states) and refused, changing nothing,
 * everywhere else. Part of the store contract suite.
 */
import { describe, expect, it } from 'vitest';
import {
  canMove,
  DELIVERY_MOVES,
  DELIVERY_STATES,
  type DeliveryMoveName,
  type DeliveryState,
} from '../../src/store/delivery-state.ts';
import type { AttemptVerdict, ClaimRequest, Store, StoreTx } from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const START = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(START + ms);
const LEASE_MS = 30_000;
const OWNER = 'worker-a';

/** Each move as a store call on delivery `id` (leased to OWNER when running); true when the store made it. */
const MOVES: Record<Exclude<DeliveryMoveName, 'reclaim'>, (tx: StoreTx, id: number) => Promise<boolean>> = {
  // While OWNER's lease is live, so a running delivery is not up for claiming.
  claim: async (tx, id) => (await tx.claimDueDeliveries(claimRequest('worker-b', at(1_000)))).some((d) => d.id === id),
  complete: (tx, id) => finish(tx, id, { state: 'succeeded' }),
  retry: (tx, id) => finish(tx, id, { state: 'failed-waiting-retry', dueAt: at(5_000) }),
  die: (tx, id) => finish(tx, id, { state: 'dead' }),
  defer: (tx, id) => tx.deferDelivery(OWNER, id, at(2_000)),
  release: async (tx) => (await tx.releaseLeases(OWNER)) > 0,
  replay: async (tx, id) => (await tx.replayDeliveries({ ids: [id] }, { force: false, now: at(3_000) })).includes(id),
  forcedReplay: async (tx, id) => (await tx.replayDeliveries({ ids: [id] }, { force: true, now: at(3_000) })).includes(id),
  cancel: (tx, id) => tx.cancelDelivery(id),
};

function claimRequest(owner: string, now: Date): ClaimRequest {
  return { owner, now, limit: 10, leaseMs: LEASE_MS, skipTargets: [] };
}

function finish(tx: StoreTx, id: number, verdict: AttemptVerdict): Promise<boolean> {
  const succeeded = verdict.state === 'succeeded';
  return tx.completeAttempt(OWNER, { deliveryId: id, number: 1, startedAt: at(1), durationMs: 5, succeeded }, verdict);
}

export function describeDeliveryMovesContract(current: () => Store): void {
  /** A delivery brought into `state` through the store's own moves; returns its id. */
  async function deliveryIn(state: DeliveryState): Promise<number> {
    const store = current();
    const id = await store.transaction(async (tx) => {
      const recorded = await tx.recordEvent(eventRecord('EV_moves'));
      const delivery = {
        eventId: 'EV_moves',
        eventSeq: recorded.duplicate ? 1 : recorded.seq,
        eventName: 'room_started',
        ruleId: 'notify',
        actionIndex: 0,
        plugin: 'http',
        params: {},
        target: 'hooks.example.test',
        orderingKey: null,
        maxAttempts: 3,
        retrySchedule: [1_000],
        timeoutMs: 1_000,
        dueAt: at(0),
      };
      return (await tx.enqueueDelivery(delivery)).id;
    });
    if (state === 'pending') return id;
    if (state === 'cancelled') {
      expect(await store.transaction((tx) => tx.cancelDelivery(id))).toBe(true);
      return id;
    }
    expect(await store.transaction((tx) => tx.claimDueDeliveries(claimRequest(OWNER, at(0))))).toHaveLength(1);
    if (state === 'running') return id;
    const verdict: AttemptVerdict =
      state === 'failed-waiting-retry' ? { state, dueAt: at(0) } : { state: state as 'succeeded' | 'dead' };
    expect(await store.transaction((tx) => finish(tx, id, verdict))).toBe(true);
    return id;
  }

  async function stateOf(id: number): Promise<DeliveryState | undefined> {
    return (await current().getDelivery(id))?.state;
  }

  const walk = Object.keys(MOVES).flatMap((move) =>
    DELIVERY_STATES.map((from) => ({ move: move as keyof typeof MOVES, from, allowed: canMove(move as DeliveryMoveName, from) })),
  );

  it('names a store call for every move of the table', () => {
    expect(Object.keys(MOVES).sort()).toEqual(Object.keys(DELIVERY_MOVES).filter((move) => move !== 'reclaim').sort());
  });

  describe.each(walk)('$move from $from', ({ move, from, allowed }) => {
    it(allowed ? 'is allowed, and lands in one of its states' : 'is refused, and changes nothing', async () => {
      const id = await deliveryIn(from);
      expect(await stateOf(id)).toBe(from);
      expect(await current().transaction((tx) => MOVES[move](tx, id))).toBe(allowed);
      const after = await stateOf(id);
      if (allowed) expect(DELIVERY_MOVES[move].to).toContain(after);
      else expect(after).toBe(from);
    });
  });

  describe('reclaim', () => {
    it('is allowed from running once the lease has expired, and refused while it is live', async () => {
      const id = await deliveryIn('running');
      const claimAt = (ms: number) => current().transaction((tx) => tx.claimDueDeliveries(claimRequest('worker-b', at(ms))));
      expect(await claimAt(LEASE_MS - 1)).toEqual([]);
      expect((await claimAt(LEASE_MS)).map((delivery) => delivery.id)).toEqual([id]);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'running', leaseOwner: 'worker-b' });
    });

    it('is refused from every other state', async () => {
      expect(DELIVERY_STATES.filter((state) => canMove('reclaim', state))).toEqual(['running']);
    });
  });
}
