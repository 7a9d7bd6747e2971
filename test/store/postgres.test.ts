import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pruneOnce } from '../../src/engine/retention/pruner.ts';
import { UNFINISHED_STATES } from '../../src/store/delivery-state.ts';
import { dueForVacuum } from '../../src/store/postgres/vacuum.ts';
import { postgresMigrations, postgresRetiredVersions } from '../../src/store/postgres/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { DEFAULT_POOL_SIZE, postgresTarget } from '../../src/store/postgres/connection.ts';
import type { Delivery, NewDelivery, OrderingEvent, Store } from '../../src/store/store.ts';
import { adminQuery, createTestSchema, requirePostgres, SKIP_POSTGRES, storesOnFreshSchema, type TestSchema } from '../helpers/postgres.ts';
import { sampleBody, startTestSwitchboard } from '../helpers/switchboard.ts';
import { queued } from './ingest-contract.ts';
import { describeStoreContract, eventRecord } from './store-contract.ts';

const START = Date.parse('2030-01-01T00:00:00.000Z');
const LEASE_MS = 30_000;

function at(ms: number): Date {
  return new Date(START + ms);
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function delivery(eventId: string, eventSeq: number, overrides: Partial<NewDelivery> = {}): NewDelivery {
  return { ...queued({ eventId, ruleId: 'notify', dueAt: at(0), ...overrides }).delivery, eventSeq };
}

/** Records a fresh event and enqueues one delivery for it, in one transaction; returns the delivery's id. */
function enqueue(store: Store, eventId: string, overrides: Partial<NewDelivery> = {}): Promise<number> {
  return store.transaction(async (tx) => {
    const recorded = await tx.recordEvent(eventRecord(eventId));
    if (recorded.duplicate) throw new Error(`event ${eventId} was already recorded`);
    return (await tx.enqueueDelivery(delivery(eventId, recorded.seq, overrides))).id;
  });
}

async function recordOrdering(store: Store, id: string, createdAt: number): Promise<OrderingEvent> {
  const recorded = await store.transaction((tx) => tx.recordEvent(eventRecord(id, { createdAt })));
  if (recorded.duplicate) throw new Error(`event ${id} was already recorded`);
  return { id, name: 'room_started', createdAt, seq: recorded.seq };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('PostgreSQL DATABASE_URL', () => {
  it('takes schema= as the search_path and pool_size= as the pool size, leaving the rest to the driver', () => {
    const target = postgresTarget(
      'postgres://app:hunter2@db.internal:5433/switchboard?schema=tenant_a&pool_size=4&sslmode=disable',
    );
    expect(target.schema).toBe('tenant_a');
    expect(target.display).toBe('postgres://app@db.internal:5433/switchboard');
    expect(target.pool.max).toBe(4);
    const forwarded = new URL(target.pool.connectionString!);
    expect(Object.fromEntries(forwarded.searchParams)).toEqual({ sslmode: 'disable', options: '-c search_path=tenant_a' });
    expect(forwarded.password).toBe('hunter2');
  });

  it('honours options=-c search_path=… as the driver does, with the default pool size', () => {
    const target = postgresTarget('postgresql://app@localhost/switchboard?options=-c%20search_path%3Dtenant_b');
    expect(target.schema).toBeNull();
    expect(target.pool.max).toBe(DEFAULT_POOL_SIZE);
    expect(new URL(target.pool.connectionString!).searchParams.get('options')).toBe('-c search_path=tenant_b');
  });

  it.each([
    ['a schema name that is not lower case', 'postgres://app:hunter2@db/switchboard?schema=Tenant-A', /schema "Tenant-A"/],
    ['a pool size of 0', 'postgres://app:hunter2@db/switchboard?pool_size=0', /pool_size is "0"/],
    ['a pool size that is not a number', 'postgres://app:hunter2@db/switchboard?pool_size=lots', /pool_size is "lots"/],
    [
      'a schema given twice',
      'postgres://app:hunter2@db/switchboard?schema=a&options=-c%20search_path%3Db',
      /names a schema twice/,
    ],
    ['a URL that does not parse', 'postgres://app:hunter2@db internal/switchboard', /not a valid postgres:\/\/ URL/],
  ])('refuses %s, without showing the password', (_case, url, message) => {
    let error: unknown;
    try {
      postgresTarget(url);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) });
    expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain('hunter2');
  });
});

describe.skipIf(SKIP_POSTGRES)('PostgreSQL', () => {
  beforeAll(requirePostgres);

  describeStoreContract(
    'PostgreSQL',
    async () => {
      const schema = await createTestSchema();
      return { store: new PostgresStore(schema.url), cleanup: schema.drop };
    },
    { transactions: 'side-by-side' },
  );

  describe('PostgreSQL store', () => {
    const fresh = storesOnFreshSchema();
    const { open } = fresh;
    let schema: TestSchema;

    beforeEach(() => {
      schema = fresh.schema();
    });

    it('lists its own migrations in strictly increasing version order, none of them retired', () => {
      const versions = postgresMigrations.map((migration) => migration.version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
      expect(versions.filter((version) => postgresRetiredVersions.includes(version))).toEqual([]);
      expect(postgresMigrations.some((migration) => /^\s*SELECT 1;?\s*$/.test(migration.sql))).toBe(false);
    });

    it('migrates a database on which an earlier release applied the retired no-op version 7', async () => {
      const store = open();
      await store.migrate();
      await adminQuery(`INSERT INTO ${schema.name}.schema_migrations VALUES (7, 'event_outcomes', now())`);
      await expect(open().migrate()).resolves.toEqual([]);
    });

    it('applies its migrations, recording each with its name and time', async () => {
      const names = (migrations: typeof postgresMigrations) => migrations.map(({ version, name }) => ({ version, name }));
      const store = open();
      expect((await store.migrate()).map((migration) => migration.version)).toEqual(postgresMigrations.map((m) => m.version));
      expect(await store.migrate()).toEqual([]);
      const rows = await adminQuery(
        `SELECT version, name, applied_at FROM ${schema.name}.schema_migrations ORDER BY version`,
      );
      expect(rows).toEqual(names(postgresMigrations).map((row) => ({ ...row, applied_at: expect.any(Date) })));
    });

    it('migrates once when three replicas start at the same time', async () => {
      const replicas = [open(), open(), open()];
      const applied = await Promise.all(replicas.map((replica) => replica.migrate()));
      expect(applied.map((migrations) => migrations.length).sort()).toEqual([0, 0, postgresMigrations.length]);
      const rows = await adminQuery(`SELECT version FROM ${schema.name}.schema_migrations`);
      expect(rows).toHaveLength(postgresMigrations.length);
    });

    it('creates the schema that schema= names when it does not exist yet', async () => {
      const created = await createTestSchema({ create: false });
      const store = open(created.url);
      try {
        await store.migrate();
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')));
        const rows = await adminQuery(`SELECT id FROM ${created.name}.events`);
        expect(rows).toEqual([{ id: 'EV_1' }]);
      } finally {
        await store.close();
        await created.drop();
      }
    });

    it('refuses a database migrated by a newer Switchboard', async () => {
      const store = open();
      await store.migrate();
      await adminQuery(`INSERT INTO ${schema.name}.schema_migrations VALUES (999, 'from_the_future', now())`);
      await expect(open().migrate()).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
        message: expect.stringContaining('schema version 999'),
      });
    });

    it('keeps the delivery index for the ordering check in step with UNFINISHED_STATES', async () => {
      await open().migrate();
      const [index] = await adminQuery<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'deliveries_unfinished_by_ordering_group'`,
        [schema.name],
      );
      const listed = UNFINISHED_STATES.map((state) => `'${state}'::text`).join(', ');
      expect(index.indexdef).toContain(`ARRAY[${listed}]`);
    });

    it('runs at most pool_size transactions at once', async () => {
      const store = open(`${schema.url}&pool_size=2`);
      await store.migrate();
      let inside = 0;
      let mostInside = 0;
      await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          store.transaction(async (tx) => {
            mostInside = Math.max(mostInside, ++inside);
            await sleep(20);
            await tx.recordEvent(eventRecord(`EV_${index}`));
            inside -= 1;
          }),
        ),
      );
      expect(mostInside).toBe(2);
    });

    it('vacuums a table after a prune run that deleted enough of its rows (5%, at least 500, at most 10,000), at most once a minute, outside any transaction', async () => {
      const store = open();
      await store.migrate();
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      await store.transaction(async (tx) => {
        for (let index = 0; index < 600; index += 1) await tx.recordEvent(eventRecord(`EV_vacuum_${index}`, { receivedAt: twoDaysAgo }));
      });
      const vacuums = async () =>
        Object.fromEntries(
          (await adminQuery<{ relname: string; vacuum_count: string }>(
            `SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('events', 'deliveries')`,
            [schema.name],
          )).map((row) => [row.relname, Number(row.vacuum_count)]),
        );
      expect(await vacuums()).toEqual({ events: 0, deliveries: 0 });
      const metrics = { pruned: () => undefined, pruneRan: () => undefined };
      const retention = { eventsMs: 60_000, deadMs: 0, sessionsMs: 0, usageMs: 0 };
      expect(await pruneOnce({ store, retention, metrics }, () => false)).toMatchObject({ events: 600 });
      expect(await vacuums()).toEqual({ events: 1, deliveries: 0 });
      expect(await store.vacuumPruned({ deliveries: 10 })).toEqual([]);
      // A table vacuumed within the last minute waits, however much was deleted since.
      expect(await store.vacuumPruned({ events: 5_000 })).toEqual([]);
      expect([dueForVacuum(0, 5_000, 59_000), dueForVacuum(0, 5_000, 60_000), dueForVacuum(0, 5_000, null)]).toEqual([false, true, true]);
      expect([dueForVacuum(0, 499), dueForVacuum(0, 500), dueForVacuum(100_000, 4_999), dueForVacuum(100_000, 5_000)]).toEqual([false, true, false, true]);
      expect(dueForVacuum(10_000_000, 10_000)).toBe(true);
    });

    it('keeps a NUL character that event data carried into params and outcomes', async () => {
      const store = open();
      await store.migrate();
      const text = 'before\u0000after';
      const id = await enqueue(store, 'EV_1', { params: { body: text } });
      await store.transaction((tx) => tx.saveOutcome('EV_1', { matched: [text], actions: [] }));
      expect((await store.getDelivery(id))?.params).toEqual({ body: text });
      expect((await store.getEvent('EV_1'))?.matched).toEqual([text]);
    });

    it('lets a transaction still waiting for its connection finish when closed', async () => {
      const store = open();
      await store.migrate();
      const running = store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')));
      await store.close();
      expect(await running).toMatchObject({ duplicate: false });
      await expect(store.ping()).rejects.toMatchObject({ code: 'E_STORE_UNAVAILABLE' });
    });

    describe('two replicas on one database', () => {
      let a: PostgresStore;
      let b: PostgresStore;

      beforeEach(async () => {
        a = open();
        b = open();
        await a.migrate();
      });

      it('records an event delivered to both replicas at once exactly once', async () => {
        const ids = Array.from({ length: 30 }, (_, index) => `EV_${index}`);
        const outcomes = await Promise.all(
          ids.map((id) =>
            Promise.all([a, b].map((replica) => replica.transaction((tx) => tx.recordEvent(eventRecord(id))))),
          ),
        );
        for (const [index, pair] of outcomes.entries()) {
          expect(pair.filter((outcome) => !outcome.duplicate), ids[index]).toHaveLength(1);
        }
      });

      it('makes a redelivery wait for the first replica’s transaction, then calls it a duplicate', async () => {
        const recorded = gate();
        const first = a.transaction(async (tx) => {
          const outcome = await tx.recordEvent(eventRecord('EV_1', { body: 'first' }));
          recorded.open();
          await sleep(200);
          return outcome;
        });
        await recorded.opened;
        const second = await b.transaction((tx) => tx.recordEvent(eventRecord('EV_1', { body: 'second' })));
        expect(await first).toMatchObject({ duplicate: false });
        expect(second).toEqual({ duplicate: true });
        expect((await b.getEvent('EV_1'))?.body).toBe('first');
      });

      it('records the redelivery when the first replica’s transaction rolls back', async () => {
        const recorded = gate();
        const first = rejection(
          a.transaction(async (tx) => {
            await tx.recordEvent(eventRecord('EV_1', { body: 'first' }));
            recorded.open();
            await sleep(200);
            throw new Error('the first replica failed');
          }),
        );
        await recorded.opened;
        const second = await b.transaction((tx) => tx.recordEvent(eventRecord('EV_1', { body: 'second' })));
        expect(await first).toMatchObject({ message: 'the first replica failed' });
        expect(second).toMatchObject({ duplicate: false });
        expect((await a.getEvent('EV_1'))?.body).toBe('second');
      });

      it('never claims a delivery twice, nor two of one ordering group at once, with both replicas claiming', async () => {
        const groups = ['room:a', 'room:b', 'room:c', 'room:d', 'room:e'];
        const enqueued: number[] = [];
        for (let index = 0; index < 40; index += 1) {
          const orderingKey = index % 8 < groups.length ? groups[index % 8] : null;
          enqueued.push(await enqueue(index % 2 === 0 ? a : b, `EV_${index}`, { orderingKey }));
        }

        const claimed = new Map<number, string>();
        const running = new Set<string>();
        const claimOrder = new Map<string, number[]>();
        const violations: string[] = [];
        const deadline = Date.now() + 15_000;

        async function work(replica: PostgresStore, owner: string): Promise<void> {
          while (claimed.size < enqueued.length && Date.now() < deadline) {
            const batch: Delivery[] = await replica.transaction((tx) =>
              tx.claimDueDeliveries({ owner, now: at(1_000), limit: 3, leaseMs: LEASE_MS, skipTargets: [] }),
            );
            if (batch.length === 0) await sleep(2);
            await Promise.all(
              batch.map(async (item) => {
                if (claimed.has(item.id)) violations.push(`${owner} claimed ${item.id} after ${claimed.get(item.id)}`);
                claimed.set(item.id, owner);
                const group = item.orderingKey;
                if (group !== null) {
                  if (running.has(group)) violations.push(`${owner} claimed ${item.id} while ${group} was running`);
                  running.add(group);
                  claimOrder.set(group, [...(claimOrder.get(group) ?? []), item.id]);
                }
                await sleep(Math.random() * 4);
                // Out of the running set before the completion commits, so a claim that follows it is no violation.
                if (group !== null) running.delete(group);
                const done = { deliveryId: item.id, number: 1, startedAt: at(1_000), durationMs: 1, succeeded: true };
                const completed = await replica.transaction((tx) => tx.completeAttempt(owner, done, { state: 'succeeded' }));
                if (!completed) violations.push(`${owner} lost the lease of ${item.id}`);
              }),
            );
          }
        }

        await Promise.all([work(a, 'a-1'), work(a, 'a-2'), work(b, 'b-1'), work(b, 'b-2')]);
        expect(violations).toEqual([]);
        expect([...claimed.keys()].sort((x, y) => x - y)).toEqual(enqueued);
        for (const [group, order] of claimOrder) expect(order, group).toEqual([...order].sort((x, y) => x - y));
        expect(new Set(claimed.values()).size).toBeGreaterThan(1);
        expect((await a.countDeliveries()).succeeded).toBe(enqueued.length);
      });

      it('writes one ordering group a transaction at a time, so no claim passes a delivery still being written', async () => {
        const enqueuedFirst = gate();
        const release = gate();
        const first = a.transaction(async (tx) => {
          const recorded = await tx.recordEvent(eventRecord('EV_first'));
          const seq = (recorded as { seq: number }).seq;
          const { id } = await tx.enqueueDelivery(delivery('EV_first', seq, { orderingKey: 'room:a' }));
          enqueuedFirst.open();
          await release.opened;
          return id;
        });
        await enqueuedFirst.opened;
        let secondDone = false;
        const second = enqueue(b, 'EV_second', { orderingKey: 'room:a' }).finally(() => (secondDone = true));
        try {
          await sleep(200);
          expect(secondDone).toBe(false);
          expect(await b.transaction((tx) => tx.claimDueDeliveries(claimRequest('b')))).toEqual([]);
        } finally {
          release.open();
        }
        const [firstId, secondId] = await Promise.all([first, second]);
        expect(secondId).toBeGreaterThan(firstId);
        expect((await b.transaction((tx) => tx.claimDueDeliveries(claimRequest('b')))).map((item) => item.id)).toEqual([
          firstId,
        ]);
      });

      it('lets the other replica run the deliveries of one that died, once their leases expire', async () => {
        const id = await enqueue(a, 'EV_1');
        await a.transaction((tx) => tx.claimDueDeliveries(claimRequest('a')));
        await a.close();
        expect(await b.transaction((tx) => tx.claimDueDeliveries(claimRequest('b', { now: at(LEASE_MS - 1) })))).toEqual([]);
        const [reclaimed] = await b.transaction((tx) => tx.claimDueDeliveries(claimRequest('b', { now: at(LEASE_MS) })));
        expect(reclaimed).toMatchObject({ id, leaseOwner: 'b' });
      });

      describe.each([
        ['a first transition', false],
        ['a session that exists', true],
      ])('keeps %s monotonic when both replicas transition it at once', (_case, exists) => {
        it.each([
          ['the newer event commits first', 200, 100],
          ['the older event commits first', 100, 200],
        ])('%s', async (_order, firstCreatedAt, secondCreatedAt) => {
          if (exists) {
            const earliest = await recordOrdering(a, 'EV_earliest', 50);
            await a.transaction((tx) => tx.transitionSession({ key: 'room:a', status: 'ready-ish' }, earliest));
          }
          const firstEvent = await recordOrdering(a, 'EV_first', firstCreatedAt);
          const secondEvent = await recordOrdering(a, 'EV_second', secondCreatedAt);
          const status = (event: OrderingEvent) => `status-${event.createdAt}`;

          const transitioned = gate();
          const first = a.transaction(async (tx) => {
            const decision = await tx.transitionSession({ key: 'room:a', status: status(firstEvent) }, firstEvent);
            transitioned.open();
            await sleep(200);
            return decision;
          });
          await transitioned.opened;
          const second = await b.transaction((tx) =>
            tx.transitionSession({ key: 'room:a', status: status(secondEvent) }, secondEvent),
          );

          expect(await first).toMatchObject({ applied: true, new_status: status(firstEvent) });
          expect(second).toMatchObject(
            secondCreatedAt > firstCreatedAt
              ? { applied: true, old_status: status(firstEvent), new_status: status(secondEvent) }
              : { applied: false, reason: 'stale', new_status: status(firstEvent) },
          );
          expect(await b.getSession('room:a')).toMatchObject({ status: 'status-200', eventId: expect.any(String) });
        });
      });

      it('ends at the newest event’s status when many transitions race on both replicas', async () => {
        const createdAts = Array.from({ length: 40 }, (_, index) => index + 1).sort(() => Math.random() - 0.5);
        const events = await Promise.all(createdAts.map((createdAt) => recordOrdering(a, `EV_${createdAt}`, createdAt)));
        await Promise.all(
          events.map((event, index) =>
            (index % 2 === 0 ? a : b).transaction((tx) =>
              tx.transitionSession({ key: 'room:a', status: `status-${event.createdAt}` }, event),
            ),
          ),
        );
        const session = await a.getSession('room:a');
        expect(session).toMatchObject({ status: 'status-40', eventId: 'EV_40' });
        const applied = session!.history.map((entry) => entry.eventCreatedAt!);
        expect(applied).toEqual([...applied].sort((x, y) => y - x));
        expect(new Set(applied).size).toBe(applied.length);
      });
    });

    describe('when the server is gone', () => {
      it('reports a closed port as E_STORE_UNAVAILABLE, naming the server but not the password', async () => {
        const store = open('postgres://postgres:hunter2@127.0.0.1:1/test');
        const operations: Array<[string, () => Promise<unknown>]> = [
          ['migrate', () => store.migrate()],
          ['transaction', () => store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))],
          ['getEvent', () => store.getEvent('EV_1')],
          ['ping', () => store.ping()],
        ];
        for (const [operation, run] of operations) {
          const error = (await rejection(run())) as Error;
          expect(error, operation).toMatchObject({ code: 'E_STORE_UNAVAILABLE' });
          expect(error.message, operation).toContain('postgres://postgres@127.0.0.1:1/test');
          expect(error.message, operation).toMatch(/ECONNREFUSED/);
          expect(`${error.message} ${String(error.cause)}`, operation).not.toContain('hunter2');
        }
      });

      /** Ends every connection of the stores opened with this application_name. */
      async function terminate(applicationName: string): Promise<number> {
        const rows = await adminQuery(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [applicationName],
        );
        return rows.length;
      }

      it('reports a connection terminated mid-transaction as E_STORE_UNAVAILABLE, then carries on', async () => {
        const applicationName = `switchboard_terminated_${Date.now()}`;
        const store = open(`${schema.url}&application_name=${applicationName}`);
        await store.migrate();
        const outcome = store.transaction(async (tx) => {
          await tx.recordEvent(eventRecord('EV_lost'));
          expect(await terminate(applicationName)).toBeGreaterThan(0);
          await sleep(50);
          await tx.recordEvent(eventRecord('EV_after_termination'));
        });
        expect(await rejection(outcome)).toMatchObject({ code: 'E_STORE_UNAVAILABLE' });
        // Readiness sees the failed commit until the next one that writes.
        expect(store.health.failure?.error).toMatchObject({ code: 'E_STORE_UNAVAILABLE' });
        expect(await store.transaction((tx) => tx.recordEvent(eventRecord('EV_next')))).toMatchObject({
          duplicate: false,
        });
        expect(store.health.failure).toBeNull();
        expect(await store.getEvent('EV_lost')).toBeNull();
      });

      it('replaces idle connections the server ended', async () => {
        const applicationName = `switchboard_idle_${Date.now()}`;
        const store = open(`${schema.url}&application_name=${applicationName}`);
        await store.migrate();
        await Promise.all([store.ping(), store.ping(), store.ping()]);
        expect(await terminate(applicationName)).toBeGreaterThan(0);
        await sleep(100);
        await expect(store.ping()).resolves.toBeUndefined();
        expect(await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))).toMatchObject({ duplicate: false });
      });
    });

    describe('switchboard migrate and serve', () => {
      function cli(args: string[], env: Record<string, string>) {
        const child = spawn(process.execPath, ['src/cli.ts', ...args], {
          env: { PATH: process.env.PATH, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
          child.on('close', (code) => resolve({ code, stdout, stderr })),
        );
      }

      it('migrate applies the versions the database lacks and lists them', async () => {
        const first = await cli(['migrate'], { DATABASE_URL: schema.url });
        expect(first).toMatchObject({ code: 0, stderr: '' });
        const latest = postgresMigrations.at(-1)!.version;
        expect(first.stdout.split('\n')).toEqual([
          ...postgresMigrations.map(({ version, name }) => `applied ${version} ${name}`),
          `PostgreSQL schema is at version ${latest}`,
          '',
        ]);
        const again = await cli(['migrate'], { DATABASE_URL: schema.url });
        expect(again.stdout).toBe(`nothing to apply\nPostgreSQL schema is at version ${latest}\n`);
      });

      it('migrate says the server is unavailable, without the password', async () => {
        const { code, stderr } = await cli(['migrate'], { DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/test' });
        expect(code).toBe(1);
        expect(stderr).toMatch(/^E_STORE_UNAVAILABLE: The PostgreSQL database at postgres:\/\/postgres@127\.0\.0\.1:1\/test/);
        expect(stderr).not.toContain('hunter2');
      });

      it('serve migrates at start and runs webhooks on PostgreSQL, a redelivery being a duplicate', async () => {
        const sb = await startTestSwitchboard({ settings: { DATABASE_URL: schema.url } });
        try {
          const body = sampleBody('room_started');
          const first = await sb.deliver(body);
          expect(first.status).toBe(200);
          expect(first.json.results).toMatchObject({
            duplicate: false,
            actions: [{ status: 'succeeded', result: { new_status: 'live', applied: true } }],
          });
          expect((await sb.deliver(body)).json.results).toMatchObject({ duplicate: true });
        } finally {
          await sb.stop();
        }
      });

      it('serve leaves the schema alone when MIGRATE_ON_START is false', async () => {
        const sb = await startTestSwitchboard({ settings: { DATABASE_URL: schema.url, MIGRATE_ON_START: 'false' } });
        await sb.stop();
        const tables = await adminQuery('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [
          schema.name,
        ]);
        expect(tables).toEqual([]);
      });
    });
  });
});

function claimRequest(owner: string, overrides: { now?: Date } = {}) {
  return { owner, now: at(0), limit: 10, leaseMs: LEASE_MS, skipTargets: [], ...overrides };
}

if (SKIP_POSTGRES) {
  console.warn(
    'SWITCHBOARD_SKIP_POSTGRES=1: the PostgreSQL store tests are skipped. CI runs them and refuses this variable.',
  );
}
