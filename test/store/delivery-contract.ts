/**
 * What every Store must do with deliveries (the outbox): enqueue with the event, claim in order under leases, record
 * attempts, give back, replay, cancel, disable targets, audit. Part of the store contract suite.
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATES, type DeliveryState } from '../../src/store/delivery-state.ts';
import type {
  AttemptVerdict,
  ClaimedDelivery,
  ClaimRequest,
  Delivery,
  DeliveryAttempt,
  Enqueued,
  NewDelivery,
  NextOfGroupClaim,
  Store,
  StoreTx,
} from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const START = Date.parse('2030-01-01T00:00:00.000Z');

/** A moment `ms` after the tests' clock starts; the store never reads the real clock for these. */
function at(ms: number): Date {
  return new Date(START + ms);
}

const LEASE_MS = 30_000;

function newDelivery(eventId: string, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    eventId,
    eventSeq: 1,
    eventName: 'room_started',
    ruleId: 'notify-on-start',
    actionIndex: 0,
    plugin: 'http',
    params: { url: 'https://hooks.example.test/start', body: { room: 'a', tags: ['x'] } },
    target: 'hooks.example.test',
    orderingKey: null,
    maxAttempts: 3,
    retrySchedule: [1_000, 5_000],
    timeoutMs: 10_000,
    dueAt: at(0),
    ...overrides,
  };
}

function attempt(deliveryId: number, overrides: Partial<DeliveryAttempt> = {}): DeliveryAttempt {
  return {
    deliveryId,
    number: 1,
    startedAt: at(1),
    durationMs: 42,
    succeeded: true,
    statusCode: 200,
    response: 'ok',
    ...overrides,
  };
}

function failedAttempt(deliveryId: number, overrides: Partial<DeliveryAttempt> = {}): DeliveryAttempt {
  return attempt(deliveryId, {
    succeeded: false,
    statusCode: 503,
    error: { code: 'E_PLUGIN_FAILED', message: 'HTTP 503' },
    response: 'busy',
    ...overrides,
  });
}

function ids(deliveries: Delivery[]): number[] {
  return deliveries.map((delivery) => delivery.id);
}

export function describeDeliveryContract(current: () => Store): void {
  let events = 0;

  /** Records a fresh event and enqueues one delivery for it, in one transaction; returns the delivery's id. */
  function enqueue(overrides: Partial<NewDelivery> = {}): Promise<number> {
    return current().transaction(async (tx) => {
      const eventId = overrides.eventId ?? `EV_delivery_${++events}`;
      const recorded = await tx.recordEvent(eventRecord(eventId));
      const eventSeq = recorded.duplicate ? 1 : recorded.seq;
      return (await tx.enqueueDelivery(newDelivery(eventId, { eventSeq, ...overrides }))).id;
    });
  }

  function claim(overrides: Partial<ClaimRequest> = {}): Promise<ClaimedDelivery[]> {
    return current().transaction((tx) =>
      tx.claimDueDeliveries({
        owner: 'worker-a',
        now: at(0),
        limit: 10,
        leaseMs: LEASE_MS,
        skipTargets: [],
        ...overrides,
      }),
    );
  }

  function complete(done: DeliveryAttempt, verdict: AttemptVerdict, owner = 'worker-a'): Promise<boolean> {
    return current().transaction((tx) => tx.completeAttempt(owner, done, verdict));
  }

  /** Enqueues, claims and fails a delivery for good. */
  async function deadDelivery(overrides: Partial<NewDelivery> = {}): Promise<number> {
    const id = await enqueue(overrides);
    expect(ids(await claim({ limit: 1 }))).toEqual([id]);
    expect(await complete(failedAttempt(id), { state: 'dead' })).toBe(true);
    return id;
  }

  async function stateOf(id: number): Promise<DeliveryState | undefined> {
    return (await current().getDelivery(id))?.state;
  }

  function replay(filter: Parameters<StoreTx['replayDeliveries']>[0], force = false): Promise<number[]> {
    return current().transaction((tx) => tx.replayDeliveries(filter, { force, now: at(100_000) }));
  }

  describe('enqueueDelivery', () => {
    it('stores the delivery pending, with no attempts and no lease, exactly as enqueued', async () => {
      const enqueued = newDelivery('EV_1', { traceContext: { traceparent: '00-abc-def-01' }, orderingKey: 'room:a' });
      const id = await current().transaction(async (tx) => {
        const recorded = await tx.recordEvent(eventRecord('EV_1'));
        return (await tx.enqueueDelivery({ ...enqueued, eventSeq: (recorded as { seq: number }).seq })).id;
      });
      const stored = await current().getDelivery(id);
      expect(stored).toEqual({
        ...enqueued,
        eventSeq: expect.any(Number),
        id,
        state: 'pending',
        attempts: 0,
        lastError: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        attemptLog: [],
      });
    });

    it('leaves out a trace context that was not given', async () => {
      const id = await enqueue();
      expect(await current().getDelivery(id)).not.toHaveProperty('traceContext');
    });

    it('keeps the action key that names the action whose secrets the params leave out, and reads it back when claimed', async () => {
      const id = await enqueue({ actionKey: 'id:notify' });
      expect(await current().getDelivery(id)).toMatchObject({ actionKey: 'id:notify' });
      expect(await claim()).toEqual([expect.objectContaining({ id, actionKey: 'id:notify' })]);
    });

    it('leaves out an action key that was not given', async () => {
      const id = await enqueue();
      expect(await current().getDelivery(id)).not.toHaveProperty('actionKey');
    });

    it('rolls back with its event when the transaction throws', async () => {
      await expect(
        current().transaction(async (tx) => {
          await tx.recordEvent(eventRecord('EV_1'));
          await tx.enqueueDelivery(newDelivery('EV_1'));
          throw new Error('rule failed');
        }),
      ).rejects.toThrow('rule failed');
      expect(await current().getEvent('EV_1')).toBeNull();
      expect((await current().listDeliveries({}, { limit: 10 })).items).toEqual([]);
    });

    it('enqueues one action of one event once: again returns the first delivery, unchanged', async () => {
      const first = await enqueue({ eventId: 'EV_1', params: { n: 1 } });
      const again = await enqueue({ eventId: 'EV_1', params: { n: 2 } });
      expect(again).toBe(first);
      expect((await current().getDelivery(first))?.params).toEqual({ n: 1 });
      const otherAction = await enqueue({ eventId: 'EV_1', actionIndex: 1 });
      expect(otherAction).not.toBe(first);
    });
  });

  describe('enqueueDelivery with a lease', () => {
    const lease = { owner: 'worker-a', expiresAt: at(LEASE_MS) };

    function enqueueLeased(eventId: string, overrides: Partial<NewDelivery> = {}): Promise<Enqueued> {
      return current().transaction(async (tx) => {
        const recorded = await tx.recordEvent(eventRecord(eventId));
        const eventSeq = recorded.duplicate ? 1 : recorded.seq;
        return tx.enqueueDelivery(newDelivery(eventId, { eventSeq, ...overrides }), lease);
      });
    }

    it('writes the delivery running, leased to the owner, so no claim hands it to anyone else', async () => {
      const { id, leased } = await enqueueLeased('EV_1');
      expect(leased).toBe(true);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'running', attempts: 0, leaseOwner: 'worker-a', leaseExpiresAt: lease.expiresAt });
      expect(await claim({ owner: 'worker-b' })).toEqual([]);
      // Its worker died: the lease expires and the delivery is claimed like any other.
      expect(ids(await claim({ owner: 'worker-b', now: at(LEASE_MS + 1) }))).toEqual([id]);
    });

    it('writes it pending when its target is disabled', async () => {
      await current().transaction((tx) => tx.setTargetDisabled('down.example.test', true, 'keeps failing'));
      const { id, leased } = await enqueueLeased('EV_1', { target: 'down.example.test' });
      expect(leased).toBe(false);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'pending', leaseOwner: null, leaseExpiresAt: null });
    });

    it('writes it pending while an earlier delivery of its ordering group is unfinished, leased once none is', async () => {
      const first = await enqueueLeased('EV_1', { orderingKey: 'room:a' });
      const second = await enqueueLeased('EV_2', { orderingKey: 'room:a' });
      const otherRoom = await enqueueLeased('EV_3', { orderingKey: 'room:b' });
      expect([first.leased, second.leased, otherRoom.leased]).toEqual([true, false, true]);
      await complete(attempt(first.id), { state: 'succeeded' });
      expect(await stateOf(second.id)).toBe('pending');
      expect(ids(await claim())).toEqual([second.id]);
      await complete(attempt(second.id), { state: 'succeeded' });
      expect((await enqueueLeased('EV_4', { orderingKey: 'room:a' })).leased).toBe(true);
    });

    it('leaves a delivery queued before unchanged and unleased when the same action is queued again', async () => {
      const first = await enqueue({ eventId: 'EV_1' });
      const again = await current().transaction((tx) => tx.enqueueDelivery(newDelivery('EV_1', { eventSeq: 1 }), lease));
      expect(again).toEqual({ id: first, leased: false });
      expect(await stateOf(first)).toBe('pending');
    });
  });

  describe('claimDueDeliveries', () => {
    it('leases due deliveries to the owner, returning them in full', async () => {
      const id = await enqueue({ traceContext: { traceparent: '00-abc-def-01' } });
      const [claimed, ...rest] = await claim({ owner: 'worker-a', now: at(5) });
      expect(rest).toEqual([]);
      expect(claimed).toMatchObject({
        id,
        state: 'running',
        attempts: 0,
        leaseOwner: 'worker-a',
        leaseExpiresAt: at(5 + LEASE_MS),
        params: { url: 'https://hooks.example.test/start', body: { room: 'a', tags: ['x'] } },
        retrySchedule: [1_000, 5_000],
        traceContext: { traceparent: '00-abc-def-01' },
        dueAt: at(0),
      });
      expect(await stateOf(id)).toBe('running');
    });

    it('returns with each delivery its event’s body as received and createdAt, so its attempt reads nothing more', async () => {
      const first = await enqueue({ eventId: 'EV_claimed_1' });
      const second = await enqueue({ eventId: 'EV_claimed_2' });
      const claimed = await claim();
      expect(claimed.map((delivery) => [delivery.id, delivery.event])).toEqual([
        [first, { body: eventRecord('EV_claimed_1').body, createdAt: 1_700_000_000 }],
        [second, { body: eventRecord('EV_claimed_2').body, createdAt: 1_700_000_000 }],
      ]);
    });

    it('leaves a delivery that is not yet due', async () => {
      const id = await enqueue({ dueAt: at(1_000) });
      expect(await claim({ now: at(999) })).toEqual([]);
      expect(ids(await claim({ now: at(1_000) }))).toEqual([id]);
    });

    it('claims the earliest due first, then by id, up to the limit', async () => {
      const later = await enqueue({ dueAt: at(20) });
      const early = await enqueue({ dueAt: at(10) });
      const alsoEarly = await enqueue({ dueAt: at(10) });
      expect(ids(await claim({ now: at(30), limit: 2 }))).toEqual([early, alsoEarly]);
      expect(ids(await claim({ now: at(30), limit: 2 }))).toEqual([later]);
    });

    it('does not hand a delivery whose lease still runs to another worker', async () => {
      await enqueue();
      await claim({ owner: 'worker-a', now: at(0) });
      expect(await claim({ owner: 'worker-b', now: at(LEASE_MS - 1) })).toEqual([]);
    });

    it('reclaims a delivery whose lease expired (its worker died), keeping its attempts', async () => {
      const id = await enqueue();
      await claim({ owner: 'worker-a', now: at(0) });
      const [reclaimed] = await claim({ owner: 'worker-b', now: at(LEASE_MS) });
      expect(reclaimed).toMatchObject({
        id,
        state: 'running',
        attempts: 0,
        leaseOwner: 'worker-b',
        leaseExpiresAt: at(2 * LEASE_MS),
      });
    });

    it('claims a delivery waiting for a retry once its retry is due', async () => {
      const id = await enqueue();
      await claim();
      await complete(failedAttempt(id), { state: 'failed-waiting-retry', dueAt: at(5_000) });
      expect(await claim({ now: at(4_999) })).toEqual([]);
      expect(await claim({ now: at(5_000) })).toMatchObject([{ id, attempts: 1, state: 'running' }]);
    });

    it('skips deliveries of a disabled target until it is enabled again', async () => {
      const disabled = await enqueue({ target: 'down.example.test' });
      const enabled = await enqueue({ target: 'up.example.test' });
      await current().transaction((tx) => tx.setTargetDisabled('down.example.test', true, 'keeps failing'));
      expect(ids(await claim())).toEqual([enabled]);
      expect(await stateOf(disabled)).toBe('pending');
      await current().transaction((tx) => tx.setTargetDisabled('down.example.test', false, null));
      expect(ids(await claim())).toEqual([disabled]);
    });

    it('skips the targets in skipTargets, leaving their deliveries pending', async () => {
      const open = await enqueue({ target: 'open.example.test' });
      const skipped = await enqueue({ target: 'tripped.example.test' });
      expect(ids(await claim({ skipTargets: ['tripped.example.test', 'other.example.test'] }))).toEqual([open]);
      expect(await stateOf(skipped)).toBe('pending');
      expect(ids(await claim({ skipTargets: [] }))).toEqual([skipped]);
    });

    describe('ordering groups', () => {
      it('runs the deliveries of one group one at a time, in order, never two in one batch', async () => {
        const group = { orderingKey: 'room:a' };
        const first = await enqueue(group);
        const second = await enqueue(group);
        const third = await enqueue(group);
        for (const next of [first, second, third]) {
          expect(ids(await claim({ limit: 10 }))).toEqual([next]);
          expect(await claim({ owner: 'worker-b', limit: 10 })).toEqual([]);
          await complete(attempt(next), { state: 'succeeded' });
        }
        expect(await claim()).toEqual([]);
      });

      it('holds a group back while its earliest delivery waits for a retry', async () => {
        const first = await enqueue({ orderingKey: 'room:a' });
        const second = await enqueue({ orderingKey: 'room:a' });
        await claim();
        await complete(failedAttempt(first), { state: 'failed-waiting-retry', dueAt: at(60_000) });
        expect(await claim({ now: at(1_000) })).toEqual([]);
        expect(ids(await claim({ now: at(60_000) }))).toEqual([first]);
        await complete(attempt(first, { number: 2 }), { state: 'succeeded' });
        expect(ids(await claim({ now: at(60_000) }))).toEqual([second]);
      });

      it('does not block other groups behind a failing one', async () => {
        const a1 = await enqueue({ orderingKey: 'room:a' });
        const a2 = await enqueue({ orderingKey: 'room:a' });
        const b1 = await enqueue({ orderingKey: 'room:b' });
        expect(ids(await claim())).toEqual([a1, b1]);
        await complete(failedAttempt(a1), { state: 'failed-waiting-retry', dueAt: at(60_000) });
        await complete(attempt(b1), { state: 'succeeded' });
        const b2 = await enqueue({ orderingKey: 'room:b' });
        const unordered = await enqueue({ orderingKey: null });
        expect(ids(await claim({ now: at(1_000) }))).toEqual([b2, unordered]);
        expect(await stateOf(a2)).toBe('pending');
      });

      it('groups by rule and action as well as by key', async () => {
        const first = await enqueue({ orderingKey: 'room:a', ruleId: 'notify', actionIndex: 0 });
        const otherAction = await enqueue({ orderingKey: 'room:a', ruleId: 'notify', actionIndex: 1 });
        const otherRule = await enqueue({ orderingKey: 'room:a', ruleId: 'bill', actionIndex: 0 });
        const sameGroup = await enqueue({ orderingKey: 'room:a', ruleId: 'notify', actionIndex: 0 });
        expect(ids(await claim())).toEqual([first, otherAction, otherRule]);
        expect(await stateOf(sameGroup)).toBe('pending');
      });

      it('runs deliveries without an ordering key independently', async () => {
        const first = await enqueue({ orderingKey: null });
        const second = await enqueue({ orderingKey: null });
        expect(ids(await claim())).toEqual([first, second]);
      });

      it('reclaims the earliest of a group after its worker died, and only it', async () => {
        const first = await enqueue({ orderingKey: 'room:a' });
        await enqueue({ orderingKey: 'room:a' });
        await claim({ owner: 'worker-a', now: at(0) });
        expect(ids(await claim({ owner: 'worker-b', now: at(LEASE_MS) }))).toEqual([first]);
      });

      it('lets the next of a group run once the earlier is dead or cancelled', async () => {
        const dead = await deadDelivery({ orderingKey: 'room:a' });
        const cancelled = await enqueue({ orderingKey: 'room:a' });
        const last = await enqueue({ orderingKey: 'room:a' });
        expect(await stateOf(dead)).toBe('dead');
        expect(await current().transaction((tx) => tx.cancelDelivery(cancelled))).toBe(true);
        expect(ids(await claim())).toEqual([last]);
      });
    });
  });

  describe('claimNextOfGroup', () => {
    const group = { ruleId: 'notify-on-start', actionIndex: 0, orderingKey: 'room:next' };
    function claimNext(overrides: Partial<NextOfGroupClaim> = {}): Promise<ClaimedDelivery | null> {
      return current().transaction((tx) =>
        tx.claimNextOfGroup({ owner: 'worker-a', now: at(0), leaseMs: LEASE_MS, skipTargets: [], group, ...overrides }),
      );
    }

    it('leases the first unfinished delivery of the group, with its event, once the one before has finished', async () => {
      const first = await enqueue({ orderingKey: 'room:next' });
      const second = await enqueue({ orderingKey: 'room:next' });
      await enqueue({ orderingKey: 'room:next' });
      expect(ids(await claim({ limit: 1 }))).toEqual([first]);
      expect(await claimNext()).toBeNull();
      await complete(attempt(first), { state: 'succeeded' });
      const next = await claimNext();
      expect(next).toMatchObject({ id: second, state: 'running', leaseOwner: 'worker-a', leaseExpiresAt: at(LEASE_MS) });
      expect(next!.event?.body).toContain('EV_delivery_');
      expect(await claimNext()).toBeNull();
    });

    it('leaves the next where it is while it may not run: not due, waiting for a retry, its target disabled or skipped', async () => {
      const later = await enqueue({ orderingKey: 'room:next', dueAt: at(5_000) });
      expect(await claimNext()).toBeNull();
      expect(await claimNext({ skipTargets: ['hooks.example.test'], now: at(5_000) })).toBeNull();
      await current().transaction((tx) => tx.setTargetDisabled('hooks.example.test', true, 'test'));
      expect(await claimNext({ now: at(5_000) })).toBeNull();
      await current().transaction((tx) => tx.setTargetDisabled('hooks.example.test', false, null));
      expect((await claimNext({ now: at(5_000) }))?.id).toBe(later);
      await complete(failedAttempt(later), { state: 'failed-waiting-retry', dueAt: at(60_000) });
      expect(await claimNext({ now: at(6_000) })).toBeNull();
      expect((await claimNext({ now: at(60_000) }))?.id).toBe(later);
    });

    it('claims only within its group (rule, action and key)', async () => {
      await enqueue({ orderingKey: 'room:next', actionIndex: 1 });
      await enqueue({ orderingKey: 'room:other' });
      expect(await claimNext()).toBeNull();
    });
  });

  describe('completeAttemptClaimingNext', () => {
    const group = { ruleId: 'notify-on-start', actionIndex: 0, orderingKey: 'room:chain' };
    const request = { owner: 'worker-a', now: at(0), leaseMs: LEASE_MS, skipTargets: [], group };

    it("records the attempt and leases the group's next", async () => {
      const first = await enqueue({ orderingKey: 'room:chain' });
      const second = await enqueue({ orderingKey: 'room:chain' });
      await claim({ limit: 1 });
      const done = await current().completeAttemptClaimingNext('worker-a', attempt(first), { state: 'succeeded' }, request);
      expect(done.recorded).toBe(true);
      expect(done.next).toMatchObject({ id: second, state: 'running', leaseOwner: 'worker-a' });
      expect(done.next!.event?.body).toContain('EV_delivery_');
      expect(await stateOf(first)).toBe('succeeded');
      expect(await stateOf(second)).toBe('running');
      expect(await claim()).toEqual([]);
    });

    it('records the attempt alone when the group has nothing waiting, or its next may not run yet', async () => {
      const first = await enqueue({ orderingKey: 'room:chain' });
      await claim({ limit: 1 });
      expect(await current().completeAttemptClaimingNext('worker-a', attempt(first), { state: 'succeeded' }, request)).toEqual({ recorded: true, next: null });
      const second = await enqueue({ orderingKey: 'room:chain' });
      const third = await enqueue({ orderingKey: 'room:chain', dueAt: at(5_000) });
      await claim({ limit: 1 });
      expect(await current().completeAttemptClaimingNext('worker-a', attempt(second), { state: 'succeeded' }, request)).toEqual({ recorded: true, next: null });
      expect(await stateOf(third)).toBe('pending');
    });

    it('leaves the next to whoever claimed it first', async () => {
      const first = await enqueue({ orderingKey: 'room:chain' });
      const second = await enqueue({ orderingKey: 'room:chain' });
      await claim({ limit: 1 });
      await complete(attempt(first), { state: 'succeeded' });
      expect(ids(await claim({ owner: 'worker-b' }))).toEqual([second]);
      const again = await current().completeAttemptClaimingNext('worker-a', attempt(first), { state: 'succeeded' }, request);
      expect(again).toEqual({ recorded: false, next: null });
      expect(await current().getDelivery(second)).toMatchObject({ state: 'running', leaseOwner: 'worker-b' });
    });

    it('claims nothing, and writes nothing, when the owner lost the lease', async () => {
      const first = await enqueue({ orderingKey: 'room:chain' });
      const second = await enqueue({ orderingKey: 'room:chain' });
      await claim({ limit: 1 });
      const done = await current().completeAttemptClaimingNext('worker-b', attempt(first), { state: 'succeeded' }, { ...request, owner: 'worker-b' });
      expect(done).toEqual({ recorded: false, next: null });
      expect(await stateOf(first)).toBe('running');
      expect(await stateOf(second)).toBe('pending');
    });
  });

  describe.each([
    ['in a transaction', false],
    ['in a transaction of its own (Store.completeAttempt)', true],
  ])('completeAttempt %s', (_way, alone) => {
    const completeHere = (done: DeliveryAttempt, verdict: AttemptVerdict, owner = 'worker-a'): Promise<boolean> =>
      alone ? current().completeAttempt(owner, done, verdict) : complete(done, verdict, owner);

    it('records a successful attempt and finishes the delivery', async () => {
      const id = await enqueue();
      await claim();
      expect(await completeHere(attempt(id), { state: 'succeeded' })).toBe(true);
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'succeeded',
        attempts: 1,
        lastError: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        attemptLog: [attempt(id)],
      });
    });

    it('schedules a retry at the verdict’s time, keeping the error', async () => {
      const id = await enqueue();
      await claim();
      expect(await completeHere(failedAttempt(id), { state: 'failed-waiting-retry', dueAt: at(5_000) })).toBe(true);
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'failed-waiting-retry',
        attempts: 1,
        dueAt: at(5_000),
        lastError: { code: 'E_PLUGIN_FAILED', message: 'HTTP 503' },
        leaseOwner: null,
        attemptLog: [failedAttempt(id)],
      });
    });

    it('marks a delivery dead, and clears the error once a later attempt succeeds', async () => {
      const id = await enqueue();
      await claim();
      await completeHere(failedAttempt(id), { state: 'failed-waiting-retry', dueAt: at(1_000) });
      await claim({ now: at(1_000) });
      await completeHere(attempt(id, { number: 2 }), { state: 'succeeded' });
      expect(await current().getDelivery(id)).toMatchObject({ state: 'succeeded', attempts: 2, lastError: null });

      const dead = await deadDelivery();
      expect(await current().getDelivery(dead)).toMatchObject({
        state: 'dead',
        attempts: 1,
        lastError: { code: 'E_PLUGIN_FAILED', message: 'HTTP 503' },
      });
    });

    it('keeps attempts without a status, error or response as such', async () => {
      const id = await enqueue();
      await claim();
      const bare: DeliveryAttempt = { deliveryId: id, number: 1, startedAt: at(1), durationMs: 3, succeeded: true };
      await completeHere(bare, { state: 'succeeded' });
      expect((await current().getDelivery(id))?.attemptLog).toEqual([bare]);
    });

    it('keeps only the first KiB of the response, cut at a character boundary', async () => {
      const ascii = await enqueue();
      const accented = await enqueue();
      await claim();
      await completeHere(attempt(ascii, { response: 'x'.repeat(5_000) }), { state: 'succeeded' });
      // 'é' is two bytes in UTF-8, '€' three: 1,023 bytes of 'é' and a '€' would straddle the limit.
      await completeHere(attempt(accented, { response: `a${'é'.repeat(511)}€€` }), { state: 'succeeded' });
      expect((await current().getDelivery(ascii))?.attemptLog[0].response).toBe('x'.repeat(1_024));
      expect((await current().getDelivery(accented))?.attemptLog[0].response).toBe(`a${'é'.repeat(511)}`);
    });

    it('returns false and writes nothing when the owner lost the lease', async () => {
      const id = await enqueue();
      await claim({ owner: 'worker-a', now: at(0) });
      await claim({ owner: 'worker-b', now: at(LEASE_MS) });
      expect(await completeHere(attempt(id), { state: 'succeeded' }, 'worker-a')).toBe(false);
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'running',
        attempts: 0,
        leaseOwner: 'worker-b',
        attemptLog: [],
      });
    });

    it('returns false for a delivery that is not running', async () => {
      const id = await enqueue();
      expect(await completeHere(attempt(id), { state: 'succeeded' })).toBe(false);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'pending', attemptLog: [] });
    });
  });

  describe('deferDelivery', () => {
    it('gives a claimed delivery back, pending at the new time, without spending an attempt', async () => {
      const id = await enqueue();
      await claim();
      expect(await current().transaction((tx) => tx.deferDelivery('worker-a', id, at(5_000)))).toBe(true);
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'pending',
        attempts: 0,
        dueAt: at(5_000),
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      expect(await claim({ now: at(4_999) })).toEqual([]);
      expect(ids(await claim({ now: at(5_000) }))).toEqual([id]);
    });

    it('gives back a delivery that was tried before as waiting for a retry, keeping its error', async () => {
      const id = await enqueue();
      await claim();
      await complete(failedAttempt(id), { state: 'failed-waiting-retry', dueAt: at(1_000) });
      await claim({ now: at(1_000) });
      await current().transaction((tx) => tx.deferDelivery('worker-a', id, at(9_000)));
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'failed-waiting-retry',
        attempts: 1,
        dueAt: at(9_000),
        lastError: { code: 'E_PLUGIN_FAILED' },
      });
    });

    it('refuses a delivery leased to another owner', async () => {
      const id = await enqueue();
      await claim({ owner: 'worker-a' });
      expect(await current().transaction((tx) => tx.deferDelivery('worker-b', id, at(5_000)))).toBe(false);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'running', leaseOwner: 'worker-a' });
    });
  });

  describe('extendLeases', () => {
    it('keeps the owner’s leases past their first expiry', async () => {
      const id = await enqueue();
      await claim({ owner: 'worker-a', now: at(0) });
      await current().transaction((tx) => tx.extendLeases('worker-a', [id], at(90_000)));
      expect(await claim({ owner: 'worker-b', now: at(LEASE_MS) })).toEqual([]);
      expect((await current().getDelivery(id))?.leaseExpiresAt).toEqual(at(90_000));
    });

    it('does not extend a lease another worker holds', async () => {
      const id = await enqueue();
      await claim({ owner: 'worker-a', now: at(0) });
      await current().transaction((tx) => tx.extendLeases('worker-b', [id], at(90_000)));
      expect(await current().getDelivery(id)).toMatchObject({ leaseOwner: 'worker-a', leaseExpiresAt: at(LEASE_MS) });
    });
  });

  describe('releaseLeases', () => {
    it('gives back every lease of the owner, claimable at once, and counts them', async () => {
      const [first, second, third] = [await enqueue(), await enqueue(), await enqueue()];
      await claim({ owner: 'worker-a', limit: 2 });
      await claim({ owner: 'worker-b', limit: 1 });
      expect(await current().transaction((tx) => tx.releaseLeases('worker-a'))).toBe(2);
      expect(await current().getDelivery(first)).toMatchObject({ state: 'pending', leaseOwner: null, attempts: 0 });
      expect(await current().getDelivery(third)).toMatchObject({ state: 'running', leaseOwner: 'worker-b' });
      expect(ids(await claim({ owner: 'worker-c', now: at(0) }))).toEqual([first, second]);
      expect(await current().transaction((tx) => tx.releaseLeases('worker-a'))).toBe(0);
    });
  });

  describe('replayDeliveries', () => {
    it('requeues a dead delivery with fresh attempts, keeping its attempt history', async () => {
      const id = await deadDelivery();
      expect(await replay({ ids: [id] })).toEqual([id]);
      expect(await current().getDelivery(id)).toMatchObject({
        state: 'pending',
        attempts: 0,
        dueAt: at(100_000),
        lastError: null,
        leaseOwner: null,
      });
      await claim({ now: at(100_000) });
      await complete(attempt(id, { startedAt: at(100_001) }), { state: 'succeeded' });
      const log = (await current().getDelivery(id))?.attemptLog;
      expect(log?.map((entry) => [entry.number, entry.succeeded, entry.startedAt])).toEqual([
        [1, false, at(1)],
        [2, true, at(100_001)],
      ]);
    });

    it('numbers attempts on across replays, while each replay counts its fresh attempts from one', async () => {
      const id = await deadDelivery();
      for (const round of [1, 2]) {
        const now = at(round * 100_000);
        await current().transaction((tx) => tx.replayDeliveries({ ids: [id] }, { force: false, now }));
        await claim({ now });
        await complete(failedAttempt(id, { number: 1 }), { state: 'failed-waiting-retry', dueAt: now });
        await claim({ now });
        await complete(failedAttempt(id, { number: 2 }), { state: 'dead' });
      }
      const delivery = await current().getDelivery(id);
      expect(delivery).toMatchObject({ state: 'dead', attempts: 2 });
      expect(delivery?.attemptLog.map((entry) => entry.number)).toEqual([1, 2, 3, 4, 5]);
    });

    it('replays a succeeded delivery only when forced', async () => {
      const id = await enqueue();
      await claim();
      await complete(attempt(id), { state: 'succeeded' });
      expect(await replay({ ids: [id] })).toEqual([]);
      expect(await stateOf(id)).toBe('succeeded');
      expect(await replay({ ids: [id] }, true)).toEqual([id]);
      expect(await current().getDelivery(id)).toMatchObject({ state: 'pending', attempts: 0 });
    });

    it('never replays a running or pending delivery, even when forced', async () => {
      const running = await enqueue();
      await claim({ limit: 1 });
      const pending = await enqueue({ dueAt: at(50_000) });
      expect(await replay({}, true)).toEqual([]);
      expect(await current().getDelivery(running)).toMatchObject({ state: 'running', leaseOwner: 'worker-a' });
      expect(await current().getDelivery(pending)).toMatchObject({ state: 'pending', dueAt: at(50_000) });
    });

    it('replays cancelled deliveries and those waiting for a retry', async () => {
      const cancelled = await enqueue({ dueAt: at(50_000) });
      await current().transaction((tx) => tx.cancelDelivery(cancelled));
      const waiting = await enqueue();
      await claim();
      await complete(failedAttempt(waiting), { state: 'failed-waiting-retry', dueAt: at(60_000) });
      expect(await replay({})).toEqual([cancelled, waiting]);
      expect(await current().getDelivery(waiting)).toMatchObject({ state: 'pending', attempts: 0, dueAt: at(100_000) });
    });

    it('replays only the deliveries the filter names', async () => {
      const billing = await deadDelivery({ ruleId: 'bill', target: 'billing.example.test' });
      const notifyA = await deadDelivery({ ruleId: 'notify', target: 'a.example.test' });
      const notifyB = await deadDelivery({ ruleId: 'notify', target: 'b.example.test' });
      const cancelled = await enqueue({ ruleId: 'notify', target: 'a.example.test', dueAt: at(50_000) });
      await current().transaction((tx) => tx.cancelDelivery(cancelled));

      expect(await replay({ rule: 'notify', target: 'a.example.test', state: 'dead' })).toEqual([notifyA]);
      expect(await replay({ state: 'cancelled' })).toEqual([cancelled]);
      expect(await replay({ ids: [billing, notifyA] })).toEqual([billing]);
      expect(await replay({ ids: [] })).toEqual([]);
      expect(await replay({ target: 'b.example.test' })).toEqual([notifyB]);
    });
  });

  describe('cancelDelivery', () => {
    it('cancels a pending delivery or one waiting for a retry', async () => {
      const pending = await enqueue({ dueAt: at(50_000) });
      const waiting = await enqueue();
      await claim();
      await complete(failedAttempt(waiting), { state: 'failed-waiting-retry', dueAt: at(60_000) });
      for (const id of [pending, waiting]) {
        expect(await current().transaction((tx) => tx.cancelDelivery(id))).toBe(true);
        expect(await stateOf(id)).toBe('cancelled');
      }
    });

    it('refuses a running, finished or unknown delivery', async () => {
      const running = await enqueue();
      await claim({ limit: 1 });
      const succeeded = await enqueue();
      await claim({ limit: 1 });
      await complete(attempt(succeeded), { state: 'succeeded' });
      const dead = await deadDelivery();
      const cancelled = await enqueue({ dueAt: at(50_000) });
      await current().transaction((tx) => tx.cancelDelivery(cancelled));
      for (const id of [running, succeeded, dead, cancelled, 999_999]) {
        expect(await current().transaction((tx) => tx.cancelDelivery(id)), `delivery ${id}`).toBe(false);
      }
      expect(await stateOf(running)).toBe('running');
    });
  });

  describe('listDeliveries', () => {
    it('lists newest first, a page at a time, with a cursor to the next page', async () => {
      const enqueued = [];
      for (let index = 0; index < 5; index += 1) enqueued.push(await enqueue());
      const first = await current().listDeliveries({}, { limit: 2 });
      expect(ids(first.items)).toEqual([enqueued[4], enqueued[3]]);
      expect(first.nextCursor).toEqual(expect.any(String));
      const second = await current().listDeliveries({}, { limit: 2, cursor: first.nextCursor! });
      expect(ids(second.items)).toEqual([enqueued[2], enqueued[1]]);
      const last = await current().listDeliveries({}, { limit: 2, cursor: second.nextCursor! });
      expect(ids(last.items)).toEqual([enqueued[0]]);
      expect(last.nextCursor).toBeNull();
    });

    it('ends with a null cursor when the last page is exactly full', async () => {
      await enqueue();
      await enqueue();
      expect((await current().listDeliveries({}, { limit: 2 })).nextCursor).toBeNull();
    });

    it('filters by state, rule and target', async () => {
      const notifyA = await enqueue({ ruleId: 'notify', target: 'a.example.test' });
      const notifyB = await enqueue({ ruleId: 'notify', target: 'b.example.test' });
      const billing = await enqueue({ ruleId: 'bill', target: 'a.example.test' });
      await claim({ limit: 1 });
      const list = async (filter: Parameters<Store['listDeliveries']>[0]) =>
        ids((await current().listDeliveries(filter, { limit: 10 })).items);
      expect(await list({ rule: 'notify' })).toEqual([notifyB, notifyA]);
      expect(await list({ target: 'a.example.test' })).toEqual([billing, notifyA]);
      expect(await list({ state: 'running' })).toEqual([notifyA]);
      expect(await list({ state: 'pending', rule: 'notify' })).toEqual([notifyB]);
      expect(await list({ state: 'dead' })).toEqual([]);
    });

    it.each(['abc', '0', '-1', '1.5', '', '99999999999999999999'])(
      'refuses the cursor %j, which it never handed out',
      async (cursor) => {
        await expect(current().listDeliveries({}, { limit: 10, cursor })).rejects.toMatchObject({
          code: 'E_INVALID_REQUEST',
        });
      },
    );
  });

  describe('listBehindTheirGroup', () => {
    it('names the waiting deliveries an earlier unfinished delivery of their ordering group holds back, and only those', async () => {
      const dead = await deadDelivery({ orderingKey: 'room:c' });
      const afterDead = await enqueue({ orderingKey: 'room:c', dueAt: at(1) });
      const running = await enqueue({ orderingKey: 'room:a' });
      const behindRunning = await enqueue({ orderingKey: 'room:a' });
      const behindBoth = await enqueue({ orderingKey: 'room:a' });
      const firstOfB = await enqueue({ orderingKey: 'room:b', dueAt: at(1) });
      const otherAction = await enqueue({ orderingKey: 'room:a', actionIndex: 1, dueAt: at(1) });
      const unordered = await enqueue({ orderingKey: null, dueAt: at(1) });
      expect(ids(await claim({ limit: 1 }))).toEqual([running]);
      const all = [running, behindRunning, behindBoth, firstOfB, otherAction, unordered, dead, afterDead, 999_999];
      expect((await current().listBehindTheirGroup(all)).sort((a, b) => a - b)).toEqual([behindRunning, behindBoth]);
      expect(await current().listBehindTheirGroup([behindBoth])).toEqual([behindBoth]);
      expect(await current().listBehindTheirGroup([])).toEqual([]);

      await complete(failedAttempt(running), { state: 'failed-waiting-retry', dueAt: at(60_000) });
      expect((await current().listBehindTheirGroup(all)).sort((a, b) => a - b)).toEqual([behindRunning, behindBoth]);
      await current().transaction((tx) => tx.cancelDelivery(running));
      expect(await current().listBehindTheirGroup(all)).toEqual([behindBoth]);
    });
  });

  describe('getDelivery', () => {
    it('returns null for an unknown id', async () => {
      expect(await current().getDelivery(404)).toBeNull();
    });

    it('lists attempts oldest first', async () => {
      const id = await enqueue();
      await claim();
      await complete(failedAttempt(id, { number: 1 }), { state: 'failed-waiting-retry', dueAt: at(1_000) });
      await claim({ now: at(1_000) });
      await complete(failedAttempt(id, { number: 2 }), { state: 'failed-waiting-retry', dueAt: at(2_000) });
      await claim({ now: at(2_000) });
      await complete(attempt(id, { number: 3 }), { state: 'succeeded' });
      expect((await current().getDelivery(id))?.attemptLog.map((entry) => entry.number)).toEqual([1, 2, 3]);
    });
  });

  describe('countDeliveries', () => {
    const zeros = Object.fromEntries(DELIVERY_STATES.map((state) => [state, 0]));

    it('counts every state, zeros included', async () => {
      expect(await current().countDeliveries()).toEqual(zeros);
      await enqueue({ dueAt: at(50_000) });
      await enqueue({ dueAt: at(50_000) });
      await deadDelivery();
      expect(await current().countDeliveries()).toEqual({ ...zeros, pending: 2, dead: 1 });
    });
  });

  describe('oldestDueAt', () => {
    it('is null while nothing waits past its due time', async () => {
      expect(await current().oldestDueAt(at(0))).toBeNull();
      await enqueue({ dueAt: at(50_000) });
      expect(await current().oldestDueAt(at(49_999))).toBeNull();
    });

    it('is the earliest due time among pending deliveries and those waiting for a retry', async () => {
      const retried = await enqueue({ dueAt: at(0) });
      await enqueue({ dueAt: at(30_000) });
      expect(ids(await claim({ limit: 1 }))).toEqual([retried]);
      expect(await complete(failedAttempt(retried), { state: 'failed-waiting-retry', dueAt: at(20_000) })).toBe(true);
      expect((await current().oldestDueAt(at(40_000)))?.toISOString()).toBe(at(20_000).toISOString());
      expect((await current().oldestDueAt(at(25_000)))?.toISOString()).toBe(at(20_000).toISOString());
    });

    it('leaves out deliveries that are running or finished', async () => {
      await enqueue({ dueAt: at(0) });
      await claim({ limit: 1 });
      await deadDelivery({ dueAt: at(0) });
      expect(await current().oldestDueAt(at(60_000))).toBeNull();
    });
  });

  describe('targets', () => {
    it('lists every target that has deliveries or a flag, with its flag', async () => {
      await enqueue({ target: 'a.example.test' });
      await enqueue({ target: 'a.example.test' });
      await enqueue({ target: 'b.example.test' });
      await current().transaction(async (tx) => {
        await tx.setTargetDisabled('b.example.test', true, 'failing since noon');
        await tx.setTargetDisabled('c.example.test', true, null);
      });
      const targets = await current().listTargets();
      expect(targets.sort((x, y) => x.target.localeCompare(y.target))).toEqual([
        { target: 'a.example.test', disabled: false, reason: null, changedAt: null },
        { target: 'b.example.test', disabled: true, reason: 'failing since noon', changedAt: expect.any(Date) },
        { target: 'c.example.test', disabled: true, reason: null, changedAt: expect.any(Date) },
      ]);
    });

    it('keeps one flag per target, the latest', async () => {
      await current().transaction((tx) => tx.setTargetDisabled('a.example.test', true, 'down'));
      await current().transaction((tx) => tx.setTargetDisabled('a.example.test', false, 'fixed'));
      expect(await current().listTargets()).toEqual([
        { target: 'a.example.test', disabled: false, reason: 'fixed', changedAt: expect.any(Date) },
      ]);
    });
  });

  describe('audit', () => {
    it('lists entries newest first, a page at a time', async () => {
      for (const subject of ['delivery:1', 'delivery:2', 'target:a']) {
        await current().transaction((tx) =>
          tx.appendAudit({ action: 'replay', subject, details: { by: 'admin', force: false } }),
        );
      }
      const first = await current().listAudit({ limit: 2 });
      expect(first.items).toEqual([
        {
          id: expect.any(Number),
          at: expect.any(Date),
          action: 'replay',
          subject: 'target:a',
          details: { by: 'admin', force: false },
        },
        expect.objectContaining({ subject: 'delivery:2' }),
      ]);
      const second = await current().listAudit({ limit: 2, cursor: first.nextCursor! });
      expect(second.items.map((entry) => entry.subject)).toEqual(['delivery:1']);
      expect(second.nextCursor).toBeNull();
    });

    it('rolls back with its transaction', async () => {
      await current()
        .transaction(async (tx) => {
          await tx.appendAudit({ action: 'cancel', subject: 'delivery:1', details: {} });
          throw new Error('cancel failed');
        })
        .catch(() => undefined);
      expect((await current().listAudit({ limit: 10 })).items).toEqual([]);
    });
  });
}
