/**
 * What every Store must do for the data lifecycle: each prune step removes what aged out and keeps what must stay
 * (unfinished deliveries, dead ones inside their window, the ledger, event ids for dedupe), in bounded batches that
 * race safely with ingest and replays; an erasure rewrites a person's or a room's data in every table that holds it.
 * Part of the store contract suite.
 */
import { describe, expect, it } from 'vitest';
import { DEDUPE_WINDOW_MS } from '../../src/store/sql/retention.ts';
import type { AttemptVerdict, IngestPlan, NewDelivery, PruneStepName, Store } from '../../src/store/store.ts';
import type { PictureChange } from '../../src/store/live-picture.ts';
import { eventRecord } from './store-contract.ts';

const MINUTE = 60_000;
const OWNER = 'worker-life';
const MARKER = '[erased]';

/** A cutoff every row written so far is older than, and one none is. */
const past = () => new Date(Date.now() - 10 * MINUTE);
const future = () => new Date(Date.now() + 10 * MINUTE);

function newDelivery(eventId: string, eventSeq: number, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return {
    eventId,
    eventSeq,
    eventName: 'participant_joined',
    ruleId: 'notify',
    actionIndex: 0,
    plugin: 'http',
    params: { url: 'https://hooks.example.test/', text: 'hello' },
    target: 'hooks.example.test',
    orderingKey: null,
    maxAttempts: 3,
    retrySchedule: [1_000],
    timeoutMs: 10_000,
    dueAt: new Date(0),
    ...overrides,
  };
}

/** A redelivery's ingest, with nothing to write but the event. */
function ingestPlan(id: string): IngestPlan {
  return { event: eventRecord(id, { receivedAt: new Date() }), change: null, matched: [], actions: [] };
}

function participantBody(id: string, identity: string, room = 'room-a'): string {
  return JSON.stringify({
    id,
    event: 'participant_joined',
    room: { sid: 'RM_1', name: room, metadata: `{"topic":"${room} weekly"}` },
    participant: { sid: 'PA_1', identity, name: `${identity} Smith`, metadata: '{"plan":"pro"}', attributes: { city: 'Lisbon' } },
    createdAt: '1700000000',
  });
}

export function describeLifecycleContract(current: () => Store, traits: { sideBySide: boolean }): void {
  let events = 0;

  async function recordEvent(options: { receivedAt?: Date; body?: string; id?: string } = {}): Promise<{ id: string; seq: number }> {
    const id = options.id ?? `EV_life_${++events}`;
    const record = eventRecord(id, {
      receivedAt: options.receivedAt ?? new Date(),
      ...(options.body !== undefined && { body: options.body, name: 'participant_joined' }),
    });
    const recorded = await current().transaction((tx) => tx.recordEvent(record));
    if (recorded.duplicate) throw new Error(`${id} recorded twice`);
    return { id, seq: recorded.seq };
  }

  /** A delivery of a fresh event, left in `state` (via a real claim and attempt), with one attempt when it ran; one at a time. */
  async function deliveryIn(
    state: 'pending' | 'running' | 'failed-waiting-retry' | 'succeeded' | 'dead' | 'cancelled',
    options: { body?: string; params?: Record<string, unknown>; response?: string; receivedAt?: Date } = {},
  ): Promise<{ eventId: string; deliveryId: number }> {
    const store = current();
    const { id: eventId, seq } = await recordEvent({ body: options.body, receivedAt: options.receivedAt });
    const { id: deliveryId } = await store.transaction((tx) =>
      tx.enqueueDelivery(newDelivery(eventId, seq, options.params ? { params: options.params } : {})),
    );
    if (state === 'pending') return { eventId, deliveryId };
    if (state === 'cancelled') {
      await store.transaction((tx) => tx.cancelDelivery(deliveryId));
      return { eventId, deliveryId };
    }
    const claimed = await store.transaction((tx) =>
      tx.claimDueDeliveries({ owner: OWNER, now: new Date(), limit: 100, leaseMs: MINUTE, skipTargets: [] }),
    );
    expect(claimed.map((delivery) => delivery.id)).toContain(deliveryId);
    // Anything else this claim took goes back.
    for (const other of claimed.filter((delivery) => delivery.id !== deliveryId)) {
      await store.transaction((tx) => tx.deferDelivery(OWNER, other.id, new Date(0)));
    }
    if (state === 'running') return { eventId, deliveryId };
    const verdicts: Record<string, AttemptVerdict> = {
      succeeded: { state: 'succeeded' },
      dead: { state: 'dead' },
      'failed-waiting-retry': { state: 'failed-waiting-retry', dueAt: new Date(Date.now() + MINUTE) },
    };
    const succeeded = state === 'succeeded';
    await store.completeAttempt(
      OWNER,
      {
        deliveryId,
        number: 1,
        startedAt: new Date(),
        durationMs: 5,
        succeeded,
        statusCode: succeeded ? 200 : 503,
        ...(!succeeded && { error: { code: 'E_PLUGIN_FAILED', message: 'HTTP 503' } }),
        response: options.response ?? 'ok',
      },
      verdicts[state],
    );
    return { eventId, deliveryId };
  }

  /** Every batch of a step until it is done, each after the last key the one before looked at; rows removed by table. */
  async function pruneAll(step: PruneStepName, cutoff: Date, limit = 500): Promise<Record<string, number>> {
    const total: Record<string, number> = {};
    for (let after = 0; ; ) {
      const { pruned, last, done } = await current().pruneBatch(step, cutoff, limit, after);
      for (const [table, rows] of Object.entries(pruned)) total[table] = (total[table] ?? 0) + rows;
      if (done) return total;
      if (last !== null) after = last;
    }
  }

  describe('pruning', () => {
    it('deliveries.finished removes succeeded and cancelled deliveries with their attempts, and nothing else', async () => {
      const succeeded = await deliveryIn('succeeded');
      const cancelled = await deliveryIn('cancelled');
      const kept = [];
      for (const state of ['pending', 'running', 'failed-waiting-retry', 'dead'] as const) kept.push({ state, ...(await deliveryIn(state)) });
      expect(await pruneAll('deliveries.finished', past())).toEqual({});
      expect(await current().countPrunable('deliveries.finished', future())).toEqual({ delivery_attempts: 1, deliveries: 2 });

      expect(await pruneAll('deliveries.finished', future())).toEqual({ delivery_attempts: 1, deliveries: 2 });
      expect(await current().getDelivery(succeeded.deliveryId)).toBeNull();
      expect(await current().getDelivery(cancelled.deliveryId)).toBeNull();
      for (const { state, deliveryId } of kept) {
        expect((await current().getDelivery(deliveryId))?.state).toBe(state);
      }
    });

    it('deliveries.dead removes dead deliveries with their attempts, only past their own cutoff', async () => {
      const dead = await deliveryIn('dead');
      const succeeded = await deliveryIn('succeeded');
      expect(await pruneAll('deliveries.dead', past())).toEqual({});
      expect(await pruneAll('deliveries.dead', future())).toEqual({ delivery_attempts: 1, deliveries: 1 });
      expect(await current().getDelivery(dead.deliveryId)).toBeNull();
      expect((await current().getDelivery(succeeded.deliveryId))?.attemptLog).toHaveLength(1);
    });

    it('events removes old events with their outcomes, but not one a delivery still needs', async () => {
      const old = await recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) });
      await current().transaction((tx) => tx.saveOutcome(old.id, { matched: ['r'], actions: [] }));
      const young = await recordEvent();
      const queued = await deliveryIn('pending');
      const dead = await deliveryIn('dead');

      expect(await pruneAll('events', new Date(Date.now() - MINUTE))).toEqual(expect.objectContaining({ events: 1 }));
      expect(await current().getEvent(old.id)).toBeNull();
      expect(await current().getEvent(young.id)).not.toBeNull();

      await pruneAll('events', future());
      expect(await current().getEvent(young.id)).toBeNull();
      expect(await current().getEvent(queued.eventId)).not.toBeNull();
      expect(await current().getEvent(dead.eventId)).not.toBeNull();
    });

    it('events removes an event whole, outcome included, and leaves its id as a tombstone: a redelivery is a duplicate', async () => {
      const event = await recordEvent({ body: participantBody('EV_whole', 'alice') });
      await current().transaction((tx) => tx.saveOutcome(event.id, { matched: ['r'], actions: [] }));
      expect(await pruneAll('events', future())).toEqual(expect.objectContaining({ events: 1 }));
      expect(await current().getEvent(event.id)).toBeNull();
      expect(await current().transaction((tx) => tx.recordEvent(eventRecord(event.id)))).toEqual({ duplicate: true });
      // Both ways an ingest is recorded (on PostgreSQL: one statement, and a transaction step by step).
      expect(await current().recordIngest(ingestPlan(event.id))).toEqual({ recorded: false });
      expect(await current().transaction((tx) => tx.recordIngest(ingestPlan(event.id)))).toEqual({ recorded: false });
      expect(await current().getEvent(event.id)).toBeNull();
      expect(await pruneAll('events', future())).toEqual({});
    });

    it('a pruned event leaves the searches with its row', async () => {
      const record = eventRecord('EV_pruned_search', { body: participantBody('EV_pruned_search', 'bob', 'room-pruned'), room: 'room-pruned', participant: 'bob', receivedAt: new Date() });
      await current().transaction((tx) => tx.recordEvent(record));
      const found = async () => (await current().searchEvents({ room: 'room-pruned' }, { limit: 10 })).items.map((item) => item.id);
      expect(await found()).toEqual(['EV_pruned_search']);
      await pruneAll('events', future());
      expect(await found()).toEqual([]);
      expect((await current().searchEvents({ participant: 'bob' }, { limit: 10 })).items).toEqual([]);
    });

    it('event_tombstones removes the ids past the dedupe window; an event pruned past it leaves none', async () => {
      const recent = await recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) });
      const dayOld = await recordEvent({ receivedAt: new Date(Date.now() - DEDUPE_WINDOW_MS - MINUTE) });
      await pruneAll('events', future());
      expect(await current().countPrunable('event_tombstones', past())).toEqual({ event_tombstones: 0 });
      expect(await current().countPrunable('event_tombstones', future())).toEqual({ event_tombstones: 1 });
      const again = (id: string) => current().transaction((tx) => tx.recordEvent(eventRecord(id, { receivedAt: new Date() })));
      expect(await again(dayOld.id)).toMatchObject({ duplicate: false });

      expect(await pruneAll('event_tombstones', past())).toEqual({});
      expect(await again(recent.id)).toEqual({ duplicate: true });
      expect(await pruneAll('event_tombstones', future())).toEqual({ event_tombstones: 1 });
      expect(await again(recent.id)).toMatchObject({ duplicate: false });
    });

    it('races redeliveries: an event being pruned is a duplicate whether its row or its tombstone is found', async () => {
      const old = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) })));
      const redeliver = (id: string, index: number) =>
        index % 2 === 0 ? current().recordIngest(ingestPlan(id)) : current().transaction((tx) => tx.recordIngest(ingestPlan(id)));
      const [answers] = await Promise.all([
        Promise.all(old.flatMap(({ id }, index) => [redeliver(id, index), redeliver(id, index + 1)])),
        pruneAll('events', new Date(Date.now() - MINUTE), 2),
      ]);
      expect(answers).toEqual(answers.map(() => ({ recorded: false })));
      for (const { id } of old) expect(await current().getEvent(id)).toBeNull();
      expect(await current().countPrunable('event_tombstones', future())).toEqual({ event_tombstones: old.length });
    });

    it('session_history removes old history rows; the current status stays', async () => {
      const store = current();
      for (const [index, status] of ['live', 'ended', 'live'].entries()) {
        const { id, seq } = await recordEvent();
        await store.transaction((tx) => tx.transitionSession({ key: 'room:life', status }, { id, name: 'room_started', createdAt: index, seq }));
      }
      expect((await store.getSession('room:life'))?.history).toHaveLength(3);
      expect(await pruneAll('session_history', past())).toEqual({});
      expect(await pruneAll('session_history', future())).toEqual({ session_history: 3 });
      expect(await store.getSession('room:life')).toMatchObject({ status: 'live', history: [] });
      // History goes on after a prune.
      const { id, seq } = await recordEvent();
      await store.transaction((tx) => tx.transitionSession({ key: 'room:life', status: 'ended' }, { id, name: 'room_finished', createdAt: 9, seq }));
      expect((await store.getSession('room:life'))?.history.map((entry) => entry.status)).toEqual(['ended']);
    });

    it('keeps the usage ledger when the events it was counted from are pruned; usage_ledger removes it by when it was recorded', async () => {
      const { id } = await recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) });
      const usage = {
        identifier: `usage_${id}`,
        eventId: id,
        eventName: 'participant_left',
        ruleId: 'bill',
        actionIndex: 0,
        customer: 'cus_life',
        meter: 'minutes',
        quantity: 7,
        unit: 'minutes',
        occurredAt: new Date(Date.now() - 2 * MINUTE),
      };
      await current().transaction((tx) => tx.recordUsage(usage));
      expect(await pruneAll('events', future())).toEqual(expect.objectContaining({ events: 1 }));
      expect(await current().sumUsage({ customer: 'cus_life' })).toEqual([
        { customer: 'cus_life', meter: 'minutes', unit: 'minutes', quantity: 7, records: 1 },
      ]);
      expect(await pruneAll('usage_ledger', past())).toEqual({});
      expect(await pruneAll('usage_ledger', future())).toEqual({ usage_ledger: 1 });
      expect(await current().sumUsage({ customer: 'cus_life' })).toEqual([]);
    });

    it("minute_stats and minute_latency remove the rollup's minutes before the cutoff, whole", async () => {
      const minute = (ago: number) => new Date(Math.floor((Date.now() - ago * MINUTE) / MINUTE) * MINUTE);
      const [old, recent] = [minute(30), minute(2)];
      await current().transaction(async (tx) => {
        await tx.addMinuteStats([old, recent].flatMap((at) => [{ minute: at, name: 'webhook.accepted', count: 3 }, { minute: at, name: 'rule.notify', count: 1 }]));
        await tx.addLatencyCounts([old, recent].map((at) => ({ minute: at, target: 'http://partner:80', leMs: 10, count: 2 })));
      });
      const cutoff = minute(10);
      expect(await pruneAll('minute_stats', cutoff)).toEqual({ minute_stats: 2 });
      expect(await pruneAll('minute_latency', cutoff)).toEqual({ minute_latency: 1 });
      const everything = { from: minute(60), to: future() };
      expect((await current().listMinuteStats(everything)).map((stat) => stat.minute.getTime())).toEqual([recent.getTime(), recent.getTime()]);
      expect(await current().sumLatencies({ from: minute(60), to: cutoff })).toEqual([]);
      expect(await current().sumLatencies(everything)).toEqual([{ target: 'http://partner:80', leMs: 10, count: 2 }]);
    });

    it('rooms removes a room finished before the cutoff with its participants, streams and edges; a live one stays', async () => {
      const at = new Date(Date.now() - 30 * MINUTE);
      const picture = async (id: string, room: string, change: Omit<PictureChange, 'at' | 'room'>) => {
        const recorded = await current().transaction((tx) => tx.recordEvent(eventRecord(id, { receivedAt: at })));
        if (recorded.duplicate) throw new Error(`${id} recorded twice`);
        const event = { id, name: 'x', createdAt: Math.floor(at.getTime() / 1000), seq: recorded.seq };
        await current().transaction((tx) => tx.applyPictureChange({ ...change, at, room: { sid: room, name: room } }, event));
      };
      for (const room of ['RM_old', 'RM_live']) {
        await picture(`EV_${room}_start`, room, { kind: 'room', id: room, edge: 'start', once: true, status: 'live' });
        await picture(`EV_${room}_join`, room, { kind: 'participant', id: `PA_${room}`, edge: 'start', once: true, status: 'present', identity: 'ann' });
        await picture(`EV_${room}_egress`, room, { kind: 'egress', id: `EG_${room}`, edge: 'start', once: true, status: 'EGRESS_ACTIVE' });
      }
      await picture('EV_RM_old_end', 'RM_old', { kind: 'room', id: 'RM_old', edge: 'end', once: true, status: 'finished' });
      expect(await pruneAll('rooms', new Date(at.getTime() - MINUTE))).toEqual({});
      // Two edges (start, end) of the room, one each of its participant and its egress.
      expect(await pruneAll('rooms', future())).toEqual({ rooms: 1, room_participants: 1, room_streams: 1, resource_edges: 4 });
      expect(await current().recordedRoomSids(['RM_old', 'RM_live'])).toEqual(new Set(['RM_live']));
      expect((await current().livePicture()).rooms.map((room) => room.sid)).toEqual(['RM_live']);
    });

    it('takes at most the batch size per batch', async () => {
      for (let index = 0; index < 5; index += 1) await deliveryIn('cancelled');
      expect(await current().pruneBatch('deliveries.finished', future(), 2)).toEqual({
        pruned: { deliveries: 2, delivery_attempts: 0 },
        last: expect.any(Number),
        done: false,
        heldMs: expect.any(Number),
      });
      expect(await current().countPrunable('deliveries.finished', future())).toEqual({ deliveries: 3, delivery_attempts: 0 });
    });

    it('looks at a window of keys per batch, passing over events a delivery still needs, and stops at young ones', async () => {
      const needed = await deliveryIn('pending', { receivedAt: new Date(Date.now() - 3 * MINUTE) });
      const old = await recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) });
      const young = await recordEvent();
      const cutoff = new Date(Date.now() - MINUTE);
      const first = await current().pruneBatch('events', cutoff, 1);
      expect(first).toMatchObject({ pruned: {}, last: expect.any(Number), done: false });
      const second = await current().pruneBatch('events', cutoff, 1, first.last!);
      expect(second).toMatchObject({ pruned: expect.objectContaining({ events: 1 }), last: old.seq, done: false });
      expect(await current().pruneBatch('events', cutoff, 1, second.last!)).toMatchObject({ pruned: {}, last: null, done: true });
      expect(await current().getEvent(needed.eventId)).not.toBeNull();
      expect(await current().getEvent(young.id)).not.toBeNull();
    });

    it('races a replay of dead deliveries: each is either replayed with its attempts or pruned whole', async () => {
      const dead: Array<{ eventId: string; deliveryId: number }> = [];
      for (let index = 0; index < 6; index += 1) dead.push(await deliveryIn('dead'));
      const [replayed] = await Promise.all([
        current().transaction((tx) => tx.replayDeliveries({ ids: dead.map((entry) => entry.deliveryId) }, { force: false, now: new Date() })),
        pruneAll('deliveries.dead', future(), 2),
      ]);
      for (const { deliveryId } of dead) {
        const delivery = await current().getDelivery(deliveryId);
        if (replayed.includes(deliveryId) && delivery) {
          expect(delivery).toMatchObject({ state: 'pending', attemptLog: [expect.objectContaining({ number: 1 })] });
        } else {
          expect(delivery).toBeNull();
        }
      }
    });

    it('races ingest: events recorded while events are pruned are kept, and every old one goes', async () => {
      const old = await Promise.all([1, 2, 3, 4, 5, 6].map(() => recordEvent({ receivedAt: new Date(Date.now() - 2 * MINUTE) })));
      const cutoff = new Date(Date.now() - MINUTE);
      const [recorded] = await Promise.all([
        Promise.all([1, 2, 3, 4, 5, 6].map(() => recordEvent())),
        pruneAll('events', cutoff, 2),
      ]);
      for (const { id } of old) expect(await current().getEvent(id)).toBeNull();
      for (const { id } of recorded) expect(await current().getEvent(id)).not.toBeNull();
    });

    it('runs work alone where replicas share the store', async () => {
      const store = current();
      let inner: boolean | undefined;
      expect(await store.runAlone('life-test', async () => {
        inner = await store.runAlone('life-test', async () => undefined);
      })).toBe(true);
      expect(inner).toBe(!traits.sideBySide);
      expect(await store.runAlone('life-test', async () => undefined)).toBe(true);
    });

    it('reports the oldest event kept', async () => {
      const receivedAt = new Date(Date.now() - 3 * MINUTE);
      expect(await current().oldestEventAt()).toBeNull();
      await recordEvent({ receivedAt });
      await recordEvent();
      expect(await current().oldestEventAt()).toEqual(receivedAt);
      await expect(current().reclaimSpace(256)).resolves.toBe(false);
    });
  });

  describe('erasure', () => {
    it("erases a participant from event bodies, outcomes, delivery params and attempt answers, keeping the ledger", async () => {
      const store = current();
      const done = await deliveryIn('succeeded', {
        body: participantBody('EV_p1', 'alice'),
        params: { text: 'alice Smith joined room-a', channel: '#ops' },
        response: 'welcomed alice',
      });
      const queued = await deliveryIn('pending', { body: participantBody('EV_p2', 'alice') });
      await store.transaction((tx) =>
        tx.saveOutcome(done.eventId, { matched: ['notify'], actions: [{ rule: 'notify', plugin: 'log', status: 'succeeded', result: { said: 'hi alice' } }] }),
      );
      await store.transaction((tx) =>
        tx.recordUsage({
          identifier: 'usage_alice', eventId: done.eventId, eventName: 'participant_left', ruleId: 'bill', actionIndex: 0,
          customer: 'cus_1', meter: 'minutes', quantity: 3, unit: 'minutes', occurredAt: new Date(),
        }),
      );
      const other = await recordEvent({ body: participantBody('EV_bob', 'bob') });

      const counts = await store.erase({ participantIdentity: 'alice' }, MARKER);
      expect(counts).toEqual({ events: 2, outcomes: 1, deliveries: 1, attempts: 1, cancelled: 1 });

      const erased = await store.getEvent(done.eventId);
      const body = JSON.parse(erased!.body);
      expect(body.participant).toEqual({ sid: 'PA_1', identity: MARKER, name: MARKER, metadata: MARKER, attributes: {} });
      expect(body.room.name).toBe('room-a');
      expect(erased!.body).not.toMatch(/alice|Lisbon|"plan/);
      expect(JSON.stringify(erased!.actions)).not.toContain('alice');
      const delivery = await store.getDelivery(done.deliveryId);
      expect(delivery?.params).toEqual({ text: `${MARKER} joined room-a`, channel: '#ops' });
      expect(delivery?.attemptLog[0].response).toBe(`welcomed ${MARKER}`);
      expect(await store.getDelivery(queued.deliveryId)).toMatchObject({ state: 'cancelled', lastError: { code: 'E_ERASED' } });
      expect(await store.sumUsage({})).toEqual([{ customer: 'cus_1', meter: 'minutes', unit: 'minutes', quantity: 3, records: 1 }]);
      expect((await store.getEvent(other.id))?.body).toBe(participantBody('EV_bob', 'bob'));

      expect(await store.erase({ participantIdentity: 'alice' }, MARKER)).toEqual({ events: 0, outcomes: 0, deliveries: 0, attempts: 0, cancelled: 0 });
    });

    it("erases a room's name and metadata and the data of everyone in its events", async () => {
      const store = current();
      const inRoom = await recordEvent({ body: participantBody('EV_room_1', 'carol', 'board-room') });
      const elsewhere = await recordEvent({ body: participantBody('EV_room_2', 'dave', 'lobby') });
      expect(await store.erase({ room: 'board-room' }, MARKER)).toMatchObject({ events: 1 });
      const body = JSON.parse((await store.getEvent(inRoom.id))!.body);
      expect(body.room).toEqual({ sid: 'RM_1', name: MARKER, metadata: MARKER });
      expect(body.participant.identity).toBe(MARKER);
      expect((await store.getEvent(elsewhere.id))?.body).toBe(participantBody('EV_room_2', 'dave', 'lobby'));
    });
  });
}
