/**
 * An ingest on PostgreSQL in one round trip (src/store/postgres/ingest-function.ts), with the guarantees of the
 * transaction it replaces: a redelivery is a duplicate on any replica, an ordering group is written a transaction
 * at a time across replicas, and what an event writes commits whole or not at all.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import type { PictureChange } from '../../src/store/live-picture.ts';
import type { ActionOutcome, ActionStep, IngestPlan, PlannedTransition, RecordedIngest, StoreTx } from '../../src/store/store.ts';
import {
  adminQuery,
  createTestSchema,
  requirePostgres,
  SKIP_POSTGRES,
  storesOnFreshSchema,
  TEST_PG_URL,
  type TestSchema,
} from '../helpers/postgres.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';
import { queued } from './ingest-contract.ts';
import { eventRecord } from './store-contract.ts';

const DUE = new Date('2030-01-01T00:00:00.000Z');
/** A session key over the 2.7 kB an index entry holds, even compressed. */
const UNINDEXABLE = randomBytes(4_000).toString('hex');

function roomStarted(sid: string, name = 'session-42'): PictureChange {
  return { kind: 'room', id: sid, edge: 'start', once: true, status: 'live', at: DUE, room: { sid, name }, info: { sid, name } };
}

function plan(id: string, actions: IngestPlan['actions'] = [], change: PictureChange | null = null): IngestPlan {
  return { event: eventRecord(id, { room: change?.room.name ?? null }), change, matched: ['forward'], actions };
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A step that waits for `until` once the event and the actions before it are written. */
function pause(until: Promise<void>, reached?: () => void): ActionStep {
  return {
    run: async () => {
      reached?.();
      await until;
      return { rule: 'forward', plugin: 'wait', status: 'succeeded' };
    },
  };
}

/** A status action's declared transition. */
function transition(key: string, status: string, from?: string[]): PlannedTransition {
  return { transition: { rule: 'track', plugin: 'status', request: from === undefined ? { key, status } : { key, status, from } } };
}

function deliveryIds(written: RecordedIngest): number[] {
  if (!written.recorded || written.duplicateOf !== null) throw new Error('expected the event recorded with its actions');
  return written.queued.map(({ enqueued }) => enqueued.id);
}

describe.skipIf(SKIP_POSTGRES)('PostgreSQL ingest', () => {
  beforeAll(requirePostgres);

  const fresh = storesOnFreshSchema();
  let schema: TestSchema;

  beforeEach(() => {
    schema = fresh.schema();
  });

  /** `name` becomes the connections' application_name, to find them in pg_stat_activity. */
  function open(name = 'switchboard_ingest_test'): PostgresStore {
    return fresh.open(`${schema.url}&application_name=${name}`);
  }

  /**
   * Resolves once the connection named `name` waits for a lock: `advisory` (an ordering group's) or `transactionid`
   * (a row another transaction wrote, such as the same event's).
   */
  async function waitingForLock(name: string, lock: 'advisory' | 'transactionid' = 'advisory'): Promise<void> {
    await vi.waitFor(
      async () => {
        const rows = await adminQuery(
          `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = $2`,
          [name, lock],
        );
        expect(rows).toHaveLength(1);
      },
      { timeout: 5_000, interval: 20 },
    );
  }

  describe('through the webhook', () => {
    let sb: TestSwitchboard | undefined;
    afterEach(async () => {
      await sb?.stop();
      sb = undefined;
    });

    async function start(actions: string): Promise<PostgresStore> {
      sb = await startTestSwitchboard({
        rules: { 'forward.yaml': `rules:\n  - id: forward\n    on: room_started\n    actions:\n${actions}` },
        settings: { DATABASE_URL: schema.url, WORKER_CONCURRENCY: '0' },
      });
      return sb.store as PostgresStore;
    }

    const ingests = (store: PostgresStore) => store.roundTrips.snapshot().ingest;

    it('records a webhook with one async action, its room, its ordering group and its outcome in one round trip', async () => {
      const store = await start(`      - plugin: http
        mode: async
        ordering: "{{ room.name }}"
        with: { url: "http://127.0.0.1:9/hooks" }
`);
      const before = ingests(store);
      const { status, json } = await sb!.deliver(sampleBody('room_started'));
      const after = ingests(store);

      expect(status).toBe(200);
      expect(after.operations - before.operations).toBe(1);
      expect(after.roundTrips - before.roundTrips).toBeLessThanOrEqual(2);
      expect(after.roundTrips - before.roundTrips).toBe(1);
      const actions = [{ rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: expect.any(Number) } }];
      expect(json.results).toMatchObject({ duplicate: false, matched: ['forward'], actions });
      expect(await store.getEvent(json.results.event_id)).toMatchObject({ matched: ['forward'], actions: json.results.actions });
      expect(await store.getDelivery(json.results.actions[0].result.delivery_id)).toMatchObject({
        state: 'pending',
        orderingKey: 'session-42',
        eventId: json.results.event_id,
      });
      expect(await store.getRoom('session-42')).toMatchObject({ status: 'live' });

      const again = await sb!.deliver(sampleBody('room_started'));
      expect(again.json.results).toMatchObject({ duplicate: true, actions: [] });
      expect(ingests(store).roundTrips - after.roundTrips).toBe(1);
    });

    it('answers a redelivery of an event pruned at RETENTION_EVENTS as a duplicate, in one round trip', async () => {
      sb = await startTestSwitchboard({
        // No rule for room_started: its ingest is one statement.
        rules: { 'finished.yaml': 'rules:\n  - id: finished\n    on: room_finished\n    actions:\n      - plugin: http\n        mode: async\n        with: { url: "http://127.0.0.1:9/hooks" }\n' },
        settings: { DATABASE_URL: schema.url, WORKER_CONCURRENCY: '0', RETENTION_EVENTS: '1s', PRUNE_INTERVAL: '1s' },
      });
      const store = sb.store as PostgresStore;
      const body = sampleBody('room_started', { id: 'EV_pruned_pg', room: { sid: 'RM_pruned_pg', name: 'pruned-pg' } });
      expect((await sb.deliver(body)).json.results).toMatchObject({ duplicate: false });
      await vi.waitFor(async () => expect(await store.getEvent('EV_pruned_pg')).toBeNull(), { timeout: 15_000, interval: 100 });
      const before = ingests(store);
      expect((await sb.deliver(body)).json.results).toMatchObject({ event_id: 'EV_pruned_pg', duplicate: true, actions: [] });
      expect(ingests(store).roundTrips - before.roundTrips).toBe(1);
      expect(await store.getEvent('EV_pruned_pg')).toBeNull();
    });

    it('fails an async action whose params nest too deep alone, and records the event in one round trip', async () => {
      const store = await start(`      - plugin: http
        mode: async
        with: { url: "http://127.0.0.1:9/hooks", body: "{{ room }}" }
      - plugin: http
        mode: async
        with: { url: "http://127.0.0.1:9/other" }
`);
      const body = sampleBody('room_started').replace(/"room":\s*\{/, `"room":{"extra":${'['.repeat(100)}${']'.repeat(100)},`);
      const before = ingests(store);
      const { status, json } = await sb!.deliver(body);
      expect(status).toBe(200);
      expect(ingests(store).roundTrips - before.roundTrips).toBe(1);
      expect(json.results.actions).toEqual([
        { rule: 'forward', plugin: 'http', status: 'failed', error: { code: 'E_ACTION_PARAMS_INVALID', message: expect.stringContaining('deep') } },
        { rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: expect.any(Number) } },
      ]);
      expect((await store.getEvent(json.results.event_id))?.actions).toEqual(json.results.actions);
    });

    it('records an inline status action, its session and history with the event in one round trip', async () => {
      const store = await start(`      - plugin: http
        mode: async
        with: { url: "http://127.0.0.1:9/hooks" }
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
      - plugin: status
        with: { key: "{{ room.name }}", status: ended, from: [ready] }
`);
      const before = ingests(store);
      const { json } = await sb!.deliver(sampleBody('room_started'));
      expect(ingests(store).roundTrips - before.roundTrips).toBe(1);
      expect(json.results.actions).toEqual([
        { rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: expect.any(Number) } },
        { rule: 'forward', plugin: 'status', status: 'succeeded', result: { key: 'session-42', old_status: 'ready', new_status: 'live', applied: true } },
        {
          rule: 'forward',
          plugin: 'status',
          status: 'succeeded',
          result: { key: 'session-42', old_status: 'live', new_status: 'live', applied: false, reason: 'guard' },
        },
      ]);
      expect((await store.getEvent(json.results.event_id))?.actions).toEqual(json.results.actions);
      expect(await store.getSession('session-42')).toMatchObject({
        status: 'live',
        eventId: json.results.event_id,
        history: [expect.objectContaining({ status: 'live', oldStatus: 'ready' })],
      });
    });
  });

  describe('two replicas on one database', () => {
    let a: PostgresStore;
    let b: PostgresStore;

    beforeEach(async () => {
      a = open('switchboard_ingest_a');
      b = open('switchboard_ingest_b');
      await a.migrate();
    });

    it('records an event posted to both replicas at once exactly once, with one delivery', async () => {
      const posted = plan('EV_1', [queued({ eventId: 'EV_1', orderingKey: 'room:a' })], roomStarted('RM_1'));
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, index) => (index % 2 === 0 ? a : b).recordIngest(posted)));
      expect(outcomes.filter((outcome) => outcome.recorded)).toHaveLength(1);
      expect((await a.listDeliveries({}, { limit: 10 })).items).toHaveLength(1);
      expect(a.roundTrips.snapshot().ingest.roundTrips + b.roundTrips.snapshot().ingest.roundTrips).toBe(10);
    });

    it.each([
      ['commits', 'a duplicate', false],
      ['rolls back', 'recorded', true],
    ])('makes a redelivery wait for the replica whose transaction has the event: when it %s, the redelivery is %s', async (_commits, _is, fails) => {
      const written = gate();
      const release = gate();
      const first = a.recordIngest(
        plan('EV_1', [
          pause(release.opened, written.open),
          { run: async () => (fails ? Promise.reject(new Error('the first replica failed')) : { rule: 'forward', plugin: 'wait', status: 'succeeded' }) },
        ]),
      );
      await written.opened;
      const second = b.recordIngest(plan('EV_1', [queued({ eventId: 'EV_1' })]));
      await waitingForLock('switchboard_ingest_b', 'transactionid');
      release.open();
      if (fails) await expect(first).rejects.toThrow('the first replica failed');
      else expect(await first).toMatchObject({ recorded: true });
      expect(await second).toMatchObject({ recorded: fails });
      expect((await a.listDeliveries({}, { limit: 10 })).items).toHaveLength(fails ? 1 : 0);
    });

    it('makes a one-statement ingest of an ordering group wait for a transaction writing the same group', async () => {
      const release = gate();
      const reached = gate();
      const first = a.recordIngest(plan('EV_first', [queued({ eventId: 'EV_first', orderingKey: 'room:a' }), pause(release.opened, reached.open)]));
      await reached.opened;
      const second = b.recordIngest(plan('EV_second', [queued({ eventId: 'EV_second', orderingKey: 'room:a' })]));
      try {
        await waitingForLock('switchboard_ingest_b');
        expect(await b.listDeliveries({}, { limit: 10 })).toMatchObject({ items: [] });
      } finally {
        release.open();
      }
      const [[firstId], [secondId]] = (await Promise.all([first, second])).map(deliveryIds);
      expect(secondId).toBeGreaterThan(firstId);
      const claimed = await b.transaction((tx) => tx.claimDueDeliveries({ owner: 'b', now: DUE, limit: 10, leaseMs: 30_000, skipTargets: [] }));
      expect(claimed.map((delivery) => delivery.id)).toEqual([firstId]);
    });

    it('claims due deliveries in one round trip each, and two replicas claiming at once never share one', async () => {
      for (let n = 0; n < 20; n++) await a.recordIngest(plan(`EV_${n}`, [queued({ eventId: `EV_${n}` })]));
      const claim = (store: PostgresStore, owner: string) => store.claimDueDeliveries({ owner, now: DUE, limit: 15, leaseMs: 30_000, skipTargets: [] });
      const [byA, byB] = await Promise.all([claim(a, 'a'), claim(b, 'b')]);
      const ids = [...byA, ...byB].map((delivery) => delivery.id);
      expect(ids).toHaveLength(20);
      expect(new Set(ids).size).toBe(20);
      expect(byA.every((delivery) => delivery.leaseOwner === 'a') && byB.every((delivery) => delivery.leaseOwner === 'b')).toBe(true);
      expect([a.roundTrips.snapshot().claim, b.roundTrips.snapshot().claim]).toEqual([
        { operations: 1, roundTrips: 1 },
        { operations: 1, roundTrips: 1 },
      ]);
    });

    it('makes a one-statement transition of a new session wait for a transaction creating it, then decides on its status', async () => {
      const release = gate();
      const reached = gate();
      const setLive: ActionStep = {
        run: async (tx, event) => {
          const result = await tx.transitionSession({ key: 'room:a', status: 'live' }, event);
          reached.open();
          await release.opened;
          return { rule: 'track', plugin: 'status', status: 'succeeded', result };
        },
      };
      const first = a.recordIngest(plan('EV_first', [setLive]));
      await reached.opened;
      const second = b.recordIngest(plan('EV_second', [transition('room:a', 'ended', ['live'])]));
      try {
        await waitingForLock('switchboard_ingest_b');
        expect(await b.getSession('room:a')).toBeNull();
      } finally {
        release.open();
      }
      await first;
      const written = await second;
      expect(written).toMatchObject({
        recorded: true,
        actions: [{ status: 'succeeded', result: { key: 'room:a', old_status: 'live', new_status: 'ended', applied: true } }],
      });
      expect(b.roundTrips.snapshot().ingest).toEqual({ operations: 1, roundTrips: 1 });
      const session = await b.getSession('room:a');
      expect(session).toMatchObject({ status: 'ended', eventId: 'EV_second' });
      expect(session?.history.map((entry) => entry.status)).toEqual(['ended', 'live']);
    });

    it('holds an ordering group until its one statement commits, so another replica writes the group after it', async () => {
      const c = open('switchboard_ingest_c');
      const release = gate();
      const reached = gate();
      // c holds room:b of another rule, so a's one statement takes room:a, then waits for room:b.
      const holder = c.recordIngest(plan('EV_holder', [queued({ eventId: 'EV_holder', ruleId: 'other', orderingKey: 'room:b' }), pause(release.opened, reached.open)]));
      await reached.opened;
      const first = a.recordIngest(
        plan('EV_first', [
          queued({ eventId: 'EV_first', orderingKey: 'room:a' }),
          queued({ eventId: 'EV_first', ruleId: 'other', orderingKey: 'room:b' }),
        ]),
      );
      let second: Promise<RecordedIngest> | undefined;
      try {
        await waitingForLock('switchboard_ingest_a');
        // Its step makes b's ingest a transaction, step by step.
        second = b.recordIngest(plan('EV_second', [queued({ eventId: 'EV_second', orderingKey: 'room:a' }), pause(Promise.resolve())]));
        await waitingForLock('switchboard_ingest_b');
      } finally {
        release.open();
      }
      await holder;
      const [firstIds, secondIds] = (await Promise.all([first, second!])).map(deliveryIds);
      expect(secondIds[0]).toBeGreaterThan(firstIds[0]);
    });
  });

  describe('a redelivery racing the pruner', () => {
    let pruner: PostgresStore;
    let ingest: PostgresStore;
    /** A connection holding the advisory lock that a prune batch's delete waits for, once `holdDeletes` set it up. */
    let holder: pg.Client;

    beforeEach(async () => {
      pruner = open('switchboard_prune_a');
      ingest = open('switchboard_ingest_b');
      await pruner.migrate();
      holder = new pg.Client({ connectionString: TEST_PG_URL });
      await holder.connect();
    });

    afterEach(async () => {
      await holder.end();
    });

    /**
     * Makes every delete from events wait, before its transaction commits, for an advisory lock `holder` takes: a
     * prune batch then holds its deleted rows and tombstones uncommitted for as long as the test needs.
     */
    async function holdDeletes(): Promise<() => Promise<void>> {
      const key = `hashtext('${schema.name}')`;
      await adminQuery(`
        CREATE FUNCTION ${schema.name}.hold_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock(${key}); RETURN NULL; END $$;
        CREATE TRIGGER hold_deletes AFTER DELETE ON ${schema.name}.events
        FOR EACH STATEMENT EXECUTE FUNCTION ${schema.name}.hold_deletes();`);
      await holder.query(`SELECT pg_advisory_lock(${key})`);
      return async () => {
        await holder.query(`SELECT pg_advisory_unlock(${key})`);
      };
    }

    it.each([
      ['in one statement', () => [queued({ eventId: 'EV_1' })]],
      ['step by step', () => [queued({ eventId: 'EV_1' }), pause(Promise.resolve())]],
    ])('takes it %s for a duplicate when it arrives between the batch deleting the event and committing', async (_way, actions) => {
      await ingest.recordIngest({ ...plan('EV_1'), event: eventRecord('EV_1', { receivedAt: new Date() }) });
      const release = await holdDeletes();
      const pruning = pruner.pruneBatch('events', new Date(Date.now() + 60_000), 10);
      await waitingForLock('switchboard_prune_a');
      const redelivered = ingest.recordIngest({ ...plan('EV_1', actions()), event: eventRecord('EV_1', { receivedAt: new Date() }) });
      // Its insert meets the row the batch deleted, and waits for the batch to commit or roll back.
      await waitingForLock('switchboard_ingest_b', 'transactionid');
      await release();
      expect((await pruning).pruned).toMatchObject({ events: 1 });
      expect(await redelivered).toEqual({ recorded: false });
      expect(await ingest.getEvent('EV_1')).toBeNull();
      expect(await adminQuery(`SELECT id FROM ${schema.name}.event_tombstones`)).toEqual([{ id: 'EV_1' }]);
      expect((await ingest.listDeliveries({}, { limit: 10 })).items).toEqual([]);
    });
  });

  describe('atomicity', () => {
    let store: PostgresStore;

    beforeEach(async () => {
      store = open();
      await store.migrate();
    });

    it('rolls back an inline action’s writes with the event when a later action fails the transaction', async () => {
      const transition: ActionStep = {
        run: async (tx: StoreTx, event) => {
          const result = await tx.transitionSession({ key: 'room:a', status: 'live' }, event);
          return { rule: 'forward', plugin: 'status', status: 'succeeded', result };
        },
      };
      const failing: ActionStep = { run: () => Promise.reject(new Error('the store went away')) };
      await expect(store.recordIngest(plan('EV_1', [transition, failing], roomStarted('RM_1')))).rejects.toThrow('the store went away');
      expect(await store.getEvent('EV_1')).toBeNull();
      expect(await store.getSession('room:a')).toBeNull();
      expect(await store.getRoom('session-42')).toBeNull();

      await store.recordIngest(plan('EV_1', [transition], roomStarted('RM_1')));
      expect(await store.getEvent('EV_1')).toMatchObject({ actions: [expect.objectContaining({ plugin: 'status', status: 'succeeded' })] });
      expect(await store.getSession('room:a')).toMatchObject({ status: 'live', eventId: 'EV_1' });
    });

    it('rolls back the event, its picture change and its earlier deliveries when one statement fails part way', async () => {
      const broken = queued({ eventId: 'EV_1', target: null as unknown as string });
      const written = store.recordIngest(plan('EV_1', [queued({ eventId: 'EV_1', orderingKey: 'room:a' }), broken], roomStarted('RM_1')));
      await expect(written).rejects.toMatchObject({ message: expect.stringContaining('target') });
      expect(await store.getEvent('EV_1')).toBeNull();
      expect(await store.getRoom('session-42')).toBeNull();
      expect((await store.listDeliveries({}, { limit: 10 })).items).toEqual([]);
      expect(await store.recordIngest(plan('EV_1', [queued({ eventId: 'EV_1' })], roomStarted('RM_1')))).toMatchObject({ recorded: true });
    });
  });

  describe('one statement or step by step', () => {
    /** Plans a sequence of events covers: every picture change, redeliveries, NUL characters, failed actions. */
    function plans(): IngestPlan[] {
      const nul = 'session-\u0000-7';
      const participant = (id: string, sid: string, edge: 'start' | 'end'): PictureChange => ({
        kind: 'participant',
        id: sid,
        edge,
        once: true,
        status: edge === 'start' ? 'present' : 'left',
        at: DUE,
        room: { sid: 'RM_nul', name: nul },
        identity: `user-\u0000-${id}`,
        info: { identity: `user-\u0000-${id}`, metadata: 'a\u0000b' },
      });
      const stream = (kind: 'egress' | 'ingress', edge: 'start' | 'end' | null): PictureChange => ({
        kind,
        id: `${kind}-1`,
        edge,
        once: kind === 'egress',
        status: edge ?? 'updating',
        at: DUE,
        room: { sid: 'RM_1', name: 'session-42' },
      });
      const failed: ActionOutcome = { rule: 'forward', plugin: 'http', status: 'failed', error: { code: 'E_ACTION_PARAMS_INVALID', message: 'x\u0000y' } };
      return [
        plan('EV_room', [queued({ eventId: 'EV_room', orderingKey: 'session-42', traceContext: { traceparent: '00-1' } })], roomStarted('RM_1')),
        plan('EV_room', [queued({ eventId: 'EV_room' })], roomStarted('RM_1')),
        plan('EV_room_again', [queued({ eventId: 'EV_room_again' })], roomStarted('RM_1')),
        {
          ...plan('EV_\u0000join', [], participant('1', 'PA_1', 'start')),
          event: eventRecord('EV_\u0000join', { room: nul, participant: 'user-\u0000-1', createdAt: 1_700_000_100 }),
          actions: [
            failed,
            queued({ eventId: 'EV_\u0000join', orderingKey: nul, params: { body: 'a\u0000b' }, actionKey: 'id:x@y' }),
            queued({ eventId: 'EV_\u0000join', actionIndex: 1, orderingKey: nul, target: 't\u0000', retrySchedule: [1, 2] }),
          ],
        },
        plan('EV_\u0000join', [queued({ eventId: 'EV_\u0000join' })], participant('1', 'PA_1', 'start')),
        { ...plan('EV_leave', [], participant('1', 'PA_1', 'end')), event: eventRecord('EV_leave', { createdAt: 1_700_000_050 }) },
        plan('EV_egress_start', [], stream('egress', 'start')),
        plan('EV_egress_update', [queued({ eventId: 'EV_egress_update' })], stream('egress', null)),
        plan('EV_egress_end', [], stream('egress', 'end')),
        plan('EV_ingress_start', [], stream('ingress', 'start')),
        plan('EV_ingress_start_again', [], stream('ingress', 'start')),
        { ...plan('EV_plain', [failed]), matched: [] },
        // Declared transitions among deliveries: a new session, its guard, a NUL, one too long for the index.
        plan('EV_t1', [transition('room:a', 'live'), queued({ eventId: 'EV_t1', orderingKey: 'room:a' }), transition('room:a', 'ended', ['ready'])]),
        plan('EV_t2', [
          transition('room:a', 'ended', ['live', 'x\u0000y']),
          transition('room:a', 'ended'),
          transition(`room-\u0000-${UNINDEXABLE}`, 'live'),
          transition('room:\u0000', 's\u0000'),
          failed,
        ]),
        // Older than the event that set room:a's status: stale.
        { ...plan('EV_t_old', [transition('room:a', 'live')]), event: eventRecord('EV_t_old', { createdAt: 1_600_000_000 }) },
        plan('EV_t_old', [transition('room:b', 'live')]),
        // Pruned inside the dedupe window: its tombstone makes it a redelivery.
        plan('EV_pruned', [queued({ eventId: 'EV_pruned' })], roomStarted('RM_pruned')),
      ];
    }

    /** Each table the ingest writes, in a stable order; the driver reads json columns as values. */
    const TABLES: Record<string, string> = {
      events: 'seq',
      deliveries: 'id',
      rooms: 'id',
      room_participants: 'sid',
      room_streams: 'kind, id',
      resource_edges: 'kind, sid, edge',
      sessions: 'key',
      session_history: 'id',
    };
    /** The moment a row was written, not compared. */
    const WRITE_TIMES: Record<string, string> = { sessions: 'updated_at', session_history: 'at' };

    /** The rows of `target`'s tables; a delivery's creation time is the moment it was written, not compared. */
    async function written(target: TestSchema): Promise<Record<string, Record<string, unknown>[]>> {
      const tables: Record<string, Record<string, unknown>[]> = {};
      for (const [table, order] of Object.entries(TABLES)) {
        const rows = await adminQuery(`SELECT * FROM ${target.name}.${table} ORDER BY ${order}`);
        tables[table] = rows.map(({ created_at, updated_at, ...row }) => {
          if (table === 'deliveries') return { ...row, updatedAsCreated: updated_at.getTime() === created_at.getTime() };
          const kept: Record<string, unknown> = { ...row, created_at, updated_at };
          delete kept[WRITE_TIMES[table]];
          return kept;
        });
      }
      return tables;
    }

    it('writes what the step-by-step transaction writes, and answers the same', async () => {
      const stepwise = await createTestSchema();
      const byStep = fresh.open(stepwise.url);
      try {
        const inOne = open();
        await inOne.migrate();
        await byStep.migrate();
        for (const target of [schema, stepwise]) {
          await adminQuery(`INSERT INTO ${target.name}.event_tombstones (id, received_at) VALUES ('EV_pruned', now())`);
        }
        const answers = { inOne: [] as RecordedIngest[], byStep: [] as RecordedIngest[] };
        for (const planned of plans()) {
          answers.inOne.push(await inOne.recordIngest(planned));
          answers.byStep.push(await byStep.transaction((tx) => tx.recordIngest(planned)));
        }
        expect(inOne.roundTrips.snapshot().ingest).toEqual({ operations: plans().length, roundTrips: plans().length });
        expect(answers.inOne).toEqual(answers.byStep);
        expect(answers.inOne.map((answer) => (answer.recorded ? answer.duplicateOf ?? 'recorded' : 'duplicate'))).toEqual([
          'recorded',
          'duplicate',
          'EV_room',
          'recorded',
          'duplicate',
          ...Array.from({ length: 10 }, () => 'recorded'),
          'duplicate',
          'duplicate',
        ]);
        const [one, step] = await Promise.all([written(schema), written(stepwise)]);
        expect(one).toEqual(step);
        expect(one.deliveries).toHaveLength(5);
        const results = (answer: RecordedIngest) => (answer.recorded && answer.duplicateOf === null ? answer.actions : []);
        expect(answers.inOne.flatMap(results).filter((action) => action.plugin === 'status')).toEqual([
          expect.objectContaining({ result: { key: 'room:a', old_status: 'ready', new_status: 'live', applied: true } }),
          expect.objectContaining({ result: { key: 'room:a', old_status: 'live', new_status: 'live', applied: false, reason: 'guard' } }),
          expect.objectContaining({ result: { key: 'room:a', old_status: 'live', new_status: 'ended', applied: true } }),
          expect.objectContaining({ result: { key: 'room:a', old_status: 'ended', new_status: 'ended', applied: true } }),
          expect.objectContaining({ status: 'failed', error: { code: 'E_PLUGIN_FAILED', message: expect.stringContaining('index row') } }),
          expect.objectContaining({ result: { key: 'room:\uFFFD', old_status: 'ready', new_status: 's\uFFFD', applied: true } }),
          expect.objectContaining({ result: { key: 'room:a', old_status: 'ended', new_status: 'ended', applied: false, reason: 'stale' } }),
        ]);
        expect(one.sessions.map((session) => [session.key, session.status])).toEqual([
          ['room:a', 'ended'],
          ['room:\uFFFD', 's\uFFFD'],
        ]);
        expect(one.room_participants).toEqual([expect.objectContaining({ status: 'present', identity: 'user-\uFFFD-1' })]);
      } finally {
        await byStep.close();
        await stepwise.drop();
      }
    });
  });
});
