/**
 * What every Store must do for the admin lists: search events, list sessions, and filter, count and cancel
 * deliveries by event and time. Part of the store contract suite.
 */
import { expect, it } from 'vitest';
import type { NewDelivery, Store } from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function delivery(eventId: string, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    eventId,
    eventSeq: 1,
    eventName: 'participant_joined',
    ruleId: 'notify',
    actionIndex: 0,
    plugin: 'http',
    params: {},
    target: 'hooks.example.test',
    orderingKey: null,
    maxAttempts: 3,
    retrySchedule: [1_000],
    timeoutMs: 10_000,
    dueAt: new Date(T0),
    ...overrides,
  };
}

export function describeSearchContract(getStore: () => Store): void {
  /** Records events one hour apart: `EV_0` at T0, `EV_1` an hour later, …; returns their ids. */
  async function recordEvents(events: Array<{ room?: string | null; participant?: string | null; name?: string }>) {
    await getStore().transaction(async (tx) => {
      for (const [index, event] of events.entries()) {
        await tx.recordEvent(eventRecord(`EV_${index}`, { ...event, receivedAt: new Date(T0 + index * HOUR) }));
      }
    });
    return events.map((_, index) => `EV_${index}`);
  }

  const ids = (page: { items: Array<{ id: string } | { key: string }> }) =>
    page.items.map((item) => ('id' in item ? item.id : item.key));

  it('searches events by room, participant identity, type and time, newest first', async () => {
    await recordEvents([
      { room: 'a', participant: null, name: 'room_started' },
      { room: 'a', participant: 'ana', name: 'participant_joined' },
      { room: 'b', participant: 'ana', name: 'participant_joined' },
      { room: 'a', participant: 'bo', name: 'participant_joined' },
      { room: null, participant: null, name: 'egress_ended' },
    ]);
    const store = getStore();
    const page = { limit: 10 };
    expect(ids(await store.searchEvents({}, page))).toEqual(['EV_4', 'EV_3', 'EV_2', 'EV_1', 'EV_0']);
    expect(ids(await store.searchEvents({ room: 'a' }, page))).toEqual(['EV_3', 'EV_1', 'EV_0']);
    expect(ids(await store.searchEvents({ participant: 'ana' }, page))).toEqual(['EV_2', 'EV_1']);
    expect(ids(await store.searchEvents({ room: 'a', participant: 'ana' }, page))).toEqual(['EV_1']);
    expect(ids(await store.searchEvents({ type: 'participant_joined' }, page))).toEqual(['EV_3', 'EV_2', 'EV_1']);
    const window = { since: new Date(T0 + HOUR), until: new Date(T0 + 3 * HOUR) };
    expect(ids(await store.searchEvents(window, page))).toEqual(['EV_2', 'EV_1']);
    expect(ids(await store.searchEvents({ ...window, room: 'b' }, page))).toEqual(['EV_2']);
    expect(ids(await store.searchEvents({ room: 'nowhere' }, page))).toEqual([]);
  });

  it('lists an event without its body, with the room and participant it was recorded with', async () => {
    await recordEvents([{ room: 'a', participant: 'ana', name: 'participant_joined' }]);
    const { items, nextCursor } = await getStore().searchEvents({ room: 'a' }, { limit: 5 });
    expect(items).toEqual([
      {
        seq: expect.any(Number),
        id: 'EV_0',
        name: 'participant_joined',
        createdAt: 1_700_000_000,
        receivedAt: new Date(T0),
        room: 'a',
        participant: 'ana',
      },
    ]);
    expect(nextCursor).toBeNull();
  });

  it('pages an event search with the cursor it hands out', async () => {
    await recordEvents(Array.from({ length: 5 }, () => ({ room: 'a' })));
    const store = getStore();
    const first = await store.searchEvents({ room: 'a' }, { limit: 2 });
    expect(ids(first)).toEqual(['EV_4', 'EV_3']);
    const second = await store.searchEvents({ room: 'a' }, { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(ids(second)).toEqual(['EV_2', 'EV_1']);
    const last = await store.searchEvents({ room: 'a' }, { limit: 2, cursor: second.nextCursor ?? undefined });
    expect(ids(last)).toEqual(['EV_0']);
    expect(last.nextCursor).toBeNull();
    await expect(store.searchEvents({}, { limit: 2, cursor: 'EV_1' })).rejects.toMatchObject({ code: 'E_INVALID_REQUEST' });
  });

  it('lists sessions by key, of one status when asked, a page at a time', async () => {
    const store = getStore();
    await store.transaction(async (tx) => {
      for (const [index, [key, status]] of [['c', 'live'], ['a', 'ended'], ['b', 'live'], ['d', 'live']].entries()) {
        const recorded = await tx.recordEvent(eventRecord(`EV_${index}`));
        if (recorded.duplicate) throw new Error('duplicate');
        await tx.transitionSession({ key, status }, { id: `EV_${index}`, name: 'room_started', createdAt: index, seq: recorded.seq });
      }
      // A second change writes history, which is no session of its own.
      const recorded = await tx.recordEvent(eventRecord('EV_later'));
      if (recorded.duplicate) throw new Error('duplicate');
      await tx.transitionSession({ key: 'a', status: 'live' }, { id: 'EV_later', name: 'room_started', createdAt: 9, seq: recorded.seq });
    });
    const everything = await store.listSessions({}, { limit: 10 });
    expect(ids(everything)).toEqual(['a', 'b', 'c', 'd']);
    expect(everything.items[0]).toEqual({ key: 'a', status: 'live', eventId: 'EV_later', updatedAt: expect.any(Date) });
    const first = await store.listSessions({ status: 'live' }, { limit: 2 });
    expect(ids(first)).toEqual(['a', 'b']);
    expect(first.nextCursor).toBe('b');
    const second = await store.listSessions({ status: 'live' }, { limit: 2, cursor: 'b' });
    expect(ids(second)).toEqual(['c', 'd']);
    expect(second.nextCursor).toBeNull();
    expect(ids(await store.listSessions({ status: 'ended' }, { limit: 2 }))).toEqual([]);
  });

  /** Two events with a delivery each, an hour apart; the second's is dead. Returns the deliveries' ids. */
  async function twoDeliveries(): Promise<[number, number]> {
    const store = getStore();
    return store.transaction(async (tx) => {
      await tx.recordEvent(eventRecord('EV_a'));
      await tx.recordEvent(eventRecord('EV_b'));
      const first = await tx.enqueueDelivery(delivery('EV_a'));
      const second = await tx.enqueueDelivery(delivery('EV_b', { target: 'other.example.test' }));
      return [first.id, second.id];
    });
  }

  it('filters, counts and cancels deliveries by event', async () => {
    const [first, second] = await twoDeliveries();
    const store = getStore();
    const listed = await store.listDeliveries({ eventId: 'EV_b' }, { limit: 10 });
    expect(listed.items.map((item) => item.id)).toEqual([second]);
    expect(await store.countDeliveries({ eventId: 'EV_a' })).toMatchObject({ pending: 1, dead: 0 });
    expect(await store.countDeliveries()).toMatchObject({ pending: 2 });
    expect(await store.transaction((tx) => tx.cancelDeliveries({ eventId: 'EV_a' }))).toEqual([first]);
    expect(await store.countDeliveries({ eventId: 'EV_a' })).toMatchObject({ pending: 0, cancelled: 1 });
    // Cancelled already: nothing left to cancel.
    expect(await store.transaction((tx) => tx.cancelDeliveries({ eventId: 'EV_a' }))).toEqual([]);
  });

  it('filters and replays deliveries by when they were created', async () => {
    const before = new Date(Date.now() - 1_000);
    const [first, second] = await twoDeliveries();
    const after = new Date(Date.now() + 1_000);
    const store = getStore();
    const within = await store.listDeliveries({ since: before, until: after }, { limit: 10 });
    expect(within.items.map((item) => item.id)).toEqual([second, first]);
    expect((await store.listDeliveries({ since: after }, { limit: 10 })).items).toEqual([]);
    expect((await store.listDeliveries({ until: before }, { limit: 10 })).items).toEqual([]);
    expect(await store.countDeliveries({ since: after })).toMatchObject({ pending: 0 });
    await store.transaction((tx) => tx.cancelDeliveries({ target: 'other.example.test', since: before }));
    const replayed = await store.transaction((tx) => tx.replayDeliveries({ since: before, until: after, state: 'cancelled' }, { force: false, now: new Date() }));
    expect(replayed).toEqual([second]);
  });

  it('adds per-minute counts, replicas adding to the same rows, and reads a range of minutes', async () => {
    const store = getStore();
    const minute = (n: number) => new Date(T0 + n * 60_000);
    await store.transaction((tx) => tx.addMinuteStats([
      { minute: minute(0), name: 'webhook.accepted', count: 3 },
      { minute: minute(0), name: 'webhook.E_WEBHOOK_INVALID_SIGNATURE', count: 1 },
      { minute: minute(1), name: 'webhook.accepted', count: 2 },
    ]));
    await store.transaction((tx) => tx.addMinuteStats([{ minute: minute(0), name: 'webhook.accepted', count: 4 }]));
    await store.transaction((tx) => tx.addMinuteStats([]));
    expect(await store.listMinuteStats({ from: minute(0), to: minute(2) })).toEqual([
      { minute: minute(0), name: 'webhook.E_WEBHOOK_INVALID_SIGNATURE', count: 1 },
      { minute: minute(0), name: 'webhook.accepted', count: 7 },
      { minute: minute(1), name: 'webhook.accepted', count: 2 },
    ]);
    expect(await store.listMinuteStats({ from: minute(1), to: minute(2) })).toEqual([{ minute: minute(1), name: 'webhook.accepted', count: 2 }]);
  });

  it('adds per-minute latency buckets by target, replicas adding to the same rows, and sums them over a range', async () => {
    const store = getStore();
    const minute = (n: number) => new Date(T0 + n * 60_000);
    await store.transaction((tx) => tx.addLatencyCounts([
      { minute: minute(0), target: 'a.example.test', leMs: 50, count: 3 },
      { minute: minute(0), target: 'a.example.test', leMs: 100, count: 1 },
      { minute: minute(0), target: 'other', leMs: 50, count: 2 },
      { minute: minute(1), target: 'a.example.test', leMs: 50, count: 2 },
      { minute: minute(2), target: 'b.example.test', leMs: 5, count: 9 },
    ]));
    await store.transaction((tx) => tx.addLatencyCounts([{ minute: minute(1), target: 'a.example.test', leMs: 100, count: 4 }]));
    await store.transaction((tx) => tx.addLatencyCounts([]));
    expect(await store.sumLatencies({ from: minute(0), to: minute(2) })).toEqual([
      { target: 'a.example.test', leMs: 50, count: 5 },
      { target: 'a.example.test', leMs: 100, count: 5 },
      { target: 'other', leMs: 50, count: 2 },
    ]);
    expect(await store.sumLatencies({ from: minute(2), to: minute(3) })).toEqual([{ target: 'b.example.test', leMs: 5, count: 9 }]);
    expect(await store.sumLatencies({ from: minute(3), to: minute(60) })).toEqual([]);
  });
}
