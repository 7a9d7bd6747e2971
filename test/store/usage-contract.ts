/**
 * What every Store must do with the usage ledger: one row per identifier whatever happens, written (and undone)
 * with its transaction, listed newest first with the delivery that reports it, filtered and summed exactly. Part of
 * the store contract suite.
 */
import { describe, expect, it } from 'vitest';
import type { NewDelivery, NewUsage, Store } from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const DAY = Date.parse('2030-01-01T00:00:00.000Z');

function newUsage(eventId: string, overrides: Partial<NewUsage> = {}): NewUsage {
  return {
    identifier: `usage_${eventId}`,
    eventId,
    eventName: 'participant_left',
    ruleId: 'bill-participants',
    actionIndex: 0,
    customer: 'cus_a',
    meter: 'participant_minutes',
    quantity: 12,
    unit: 'minutes',
    occurredAt: new Date(DAY),
    ...overrides,
  };
}

function newDelivery(usage: NewUsage, eventSeq: number): NewDelivery {
  return {
    eventId: usage.eventId,
    eventSeq,
    eventName: usage.eventName,
    ruleId: usage.ruleId,
    actionIndex: usage.actionIndex,
    plugin: 'billing',
    params: { usage: { identifier: usage.identifier } },
    target: 'https://billing.example.test',
    orderingKey: null,
    maxAttempts: 3,
    retrySchedule: [0],
    timeoutMs: 10_000,
    dueAt: new Date(DAY),
  };
}

export function describeUsageContract(current: () => Store): void {
  let events = 0;

  /** Records a fresh event with its usage (and the delivery reporting it, when asked) in one transaction. */
  async function record(overrides: Partial<NewUsage> = {}, options: { delivery?: boolean } = {}): Promise<NewUsage> {
    const usage = newUsage(overrides.eventId ?? `EV_usage_${++events}`, overrides);
    await current().transaction(async (tx) => {
      const recorded = await tx.recordEvent(eventRecord(usage.eventId));
      expect(await tx.recordUsage(usage)).toEqual({ duplicate: false });
      if (options.delivery) await tx.enqueueDelivery(newDelivery(usage, (recorded as { seq: number }).seq));
    });
    return usage;
  }

  const list = (filter = {}, page: { limit: number; cursor?: string } = { limit: 50 }) => current().listUsage(filter, page);

  describe('recordUsage', () => {
    it('keeps the usage as recorded, with its ledger id and time', async () => {
      const usage = await record();
      expect((await list()).items).toEqual([{ ...usage, id: expect.any(Number), recordedAt: expect.any(Date), delivery: null }]);
    });

    it('writes nothing for an identifier already in the ledger, and returns the first record', async () => {
      const first = await record();
      const again = await current().transaction((tx) => tx.recordUsage({ ...first, quantity: 99, customer: 'cus_b' }));
      expect(again).toEqual({ duplicate: true, existing: expect.objectContaining({ ...first }) });
      expect((await list()).items.map((entry) => entry.quantity)).toEqual([12]);
    });

    it('leaves two transactions recording one identifier at once with one row', async () => {
      const usage = await record();
      const duplicates = await Promise.all(
        [1, 2].map(() => current().transaction((tx) => tx.recordUsage({ ...usage }))),
      );
      expect(duplicates.map((result) => result.duplicate)).toEqual([true, true]);
      expect((await list()).items).toHaveLength(1);
    });

    it('is undone with its transaction, so the usage can be recorded again', async () => {
      const usage = newUsage('EV_rolled_back');
      await expect(
        current().transaction(async (tx) => {
          await tx.recordEvent(eventRecord(usage.eventId));
          await tx.recordUsage(usage);
          throw new Error('the event was not acknowledged');
        }),
      ).rejects.toThrow('not acknowledged');
      expect((await list()).items).toEqual([]);
      await record({ eventId: 'EV_rolled_back' });
      expect((await list()).items).toHaveLength(1);
    });

    it('is undone with its savepoint, the event kept', async () => {
      await current().transaction(async (tx) => {
        await tx.recordEvent(eventRecord('EV_kept'));
        await tx
          .savepoint(async () => {
            await tx.recordUsage(newUsage('EV_kept'));
            throw new Error('prepare failed');
          })
          .catch(() => undefined);
      });
      expect(await current().getEvent('EV_kept')).not.toBeNull();
      expect((await list()).items).toEqual([]);
    });

    it('keeps quantities beyond 32 bits exact', async () => {
      await record({ quantity: 3_000_000_000 });
      await record({ quantity: Number.MAX_SAFE_INTEGER - 3_000_000_000 });
      expect((await list()).items.map((entry) => entry.quantity)).toEqual([Number.MAX_SAFE_INTEGER - 3_000_000_000, 3_000_000_000]);
      expect((await current().sumUsage({}))[0].quantity).toBe(Number.MAX_SAFE_INTEGER);
    });
  });

  describe('listUsage', () => {
    it('lists newest first, in pages', async () => {
      const recorded = [];
      for (let i = 0; i < 5; i++) recorded.push(await record());
      const first = await list({}, { limit: 2 });
      const second = await list({}, { limit: 2, cursor: first.nextCursor! });
      const third = await list({}, { limit: 2, cursor: second.nextCursor! });
      expect([...first.items, ...second.items, ...third.items].map((entry) => entry.identifier)).toEqual(
        recorded.map((usage) => usage.identifier).reverse(),
      );
      expect(third.nextCursor).toBeNull();
    });

    it('filters by customer, meter, and the time the usage happened (from inclusive, to exclusive)', async () => {
      const hour = 3_600_000;
      const early = await record({ customer: 'cus_a', occurredAt: new Date(DAY) });
      const later = await record({ customer: 'cus_a', meter: 'room_minutes', occurredAt: new Date(DAY + hour) });
      const other = await record({ customer: 'cus_b', occurredAt: new Date(DAY + 2 * hour) });
      const identifiers = async (filter: object) => (await list(filter)).items.map((entry) => entry.identifier);
      expect(await identifiers({ customer: 'cus_a' })).toEqual([later.identifier, early.identifier]);
      expect(await identifiers({ meter: 'participant_minutes' })).toEqual([other.identifier, early.identifier]);
      expect(await identifiers({ from: new Date(DAY + hour) })).toEqual([other.identifier, later.identifier]);
      expect(await identifiers({ to: new Date(DAY + hour) })).toEqual([early.identifier]);
      expect(await identifiers({ customer: 'cus_a', from: new Date(DAY), to: new Date(DAY + 2 * hour) })).toEqual([
        later.identifier,
        early.identifier,
      ]);
      expect(await identifiers({ customer: 'cus_c' })).toEqual([]);
    });

    it('shows the delivery that reports each usage, as it moves on', async () => {
      const reported = await record({}, { delivery: true });
      const [entry] = (await list()).items;
      expect(entry.delivery).toEqual({ id: expect.any(Number), state: 'pending' });
      const deliveryId = entry.delivery!.id;
      await current().transaction(async (tx) => {
        await tx.claimDueDeliveries({ owner: 'worker', now: new Date(DAY + 1), limit: 1, leaseMs: 30_000, skipTargets: [] });
        await tx.completeAttempt(
          'worker',
          { deliveryId, number: 1, startedAt: new Date(DAY + 1), durationMs: 5, succeeded: true, statusCode: 200 },
          { state: 'succeeded' },
        );
      });
      expect((await list()).items).toEqual([expect.objectContaining({ identifier: reported.identifier, delivery: { id: deliveryId, state: 'succeeded' } })]);
    });
  });

  describe('sumUsage', () => {
    it('sums quantities by customer, meter and unit, counting the rows', async () => {
      await record({ customer: 'cus_b', quantity: 5 });
      await record({ customer: 'cus_a', quantity: 7 });
      await record({ customer: 'cus_a', quantity: 3 });
      await record({ customer: 'cus_a', meter: 'egress_minutes', unit: 'seconds', quantity: 90 });
      expect(await current().sumUsage({})).toEqual([
        { customer: 'cus_a', meter: 'egress_minutes', unit: 'seconds', quantity: 90, records: 1 },
        { customer: 'cus_a', meter: 'participant_minutes', unit: 'minutes', quantity: 10, records: 2 },
        { customer: 'cus_b', meter: 'participant_minutes', unit: 'minutes', quantity: 5, records: 1 },
      ]);
    });

    it('sums only what the filter matches', async () => {
      await record({ customer: 'cus_a', quantity: 7, occurredAt: new Date(DAY) });
      await record({ customer: 'cus_a', quantity: 3, occurredAt: new Date(DAY + 60_000) });
      await record({ customer: 'cus_b', quantity: 5 });
      expect(await current().sumUsage({ customer: 'cus_a', from: new Date(DAY + 1) })).toEqual([
        { customer: 'cus_a', meter: 'participant_minutes', unit: 'minutes', quantity: 3, records: 1 },
      ]);
      expect(await current().sumUsage({ meter: 'room_minutes' })).toEqual([]);
    });
  });
}
