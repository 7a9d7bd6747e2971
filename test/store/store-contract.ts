/**
 * What every Store must do, whatever database is behind it. Each store's test file runs this suite against its
 * own implementation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwitchboardError, SwitchboardError } from '../../src/errors.ts';
import type { EventRecord, OrderingEvent, Store, StoreTx } from '../../src/store/store.ts';
import { describeDeliveryContract } from './delivery-contract.ts';
import { describeDeliveryMovesContract } from './delivery-moves-contract.ts';
import { describeIngestContract } from './ingest-contract.ts';
import { describeLifecycleContract } from './lifecycle-contract.ts';
import { describeSearchContract } from './search-contract.ts';
import { describeUsageContract } from './usage-contract.ts';
import { describeLivePictureContract } from './live-picture-contract.ts';

export interface StoreUnderTest {
  /** A store on an empty database, not yet migrated. */
  store: Store;
  /** Removes the database; runs after the suite has closed the store. */
  cleanup(): Promise<void>;
}

/** What may differ between stores without either breaking the contract. */
export interface StoreTraits {
  /** SQLite's one writer runs a store's transactions one at a time; PostgreSQL's pool runs them side by side. */
  transactions: 'one-at-a-time' | 'side-by-side';
}

export function eventRecord(id: string, overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    id,
    name: 'room_started',
    createdAt: 1_700_000_000,
    apiKey: 'APIkey',
    body: JSON.stringify({ id, event: 'room_started' }),
    receivedAt: new Date('2024-05-01T12:00:00.123Z'),
    ...overrides,
  };
}

/** Records an event and returns what a session transition is ordered by. */
async function recordOrdering(tx: StoreTx, id: string, createdAt: number | null): Promise<OrderingEvent> {
  const recorded = await tx.recordEvent(eventRecord(id, { createdAt }));
  if (recorded.duplicate) throw new Error(`event ${id} was already recorded`);
  return { id, name: 'room_started', createdAt, seq: recorded.seq };
}

export function describeStoreContract(
  name: string,
  makeStore: () => Promise<StoreUnderTest>,
  traits: StoreTraits = { transactions: 'one-at-a-time' },
): void {
  const oneAtATime = traits.transactions === 'one-at-a-time';

  describe(`${name} store contract`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    describe('migrate', () => {
      it('can run again without changing anything, and says it applied nothing', async () => {
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_kept')));
        expect(await store.migrate()).toEqual([]);
        expect(await store.migrate()).toEqual([]);
        expect(await store.getEvent('EV_kept')).not.toBeNull();
      });
    });

    describe('health', () => {
      const unavailable = () => new SwitchboardError('E_STORE_UNAVAILABLE', 'the disk is full');

      it('records a commit that failed as unavailable until a transaction that wrote commits', async () => {
        expect(store.health.failure).toBeNull();
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_before')));
        await expect(store.transaction(async () => Promise.reject(unavailable()))).rejects.toThrow('the disk is full');
        expect(store.health.failure?.error.message).toBe('the disk is full');
        // A redelivery writes nothing: its commit would succeed on a full disk too, so it proves nothing.
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_before')));
        expect(store.health.failure).not.toBeNull();
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_after')));
        expect(store.health.failure).toBeNull();
      });

      it('is cleared by a probe write, and left alone by a transaction that failed for its own reasons', async () => {
        await expect(store.transaction(async () => Promise.reject(unavailable()))).rejects.toThrow();
        await expect(store.transaction(async () => Promise.reject(new Error('a plugin bug')))).rejects.toThrow();
        expect(store.health.failure?.error.message).toBe('the disk is full');
        await store.probeWrite();
        expect(store.health.failure).toBeNull();
      });
    });

    describe('recordEvent', () => {
      it('stores the event as received, with an empty outcome', async () => {
        const record = eventRecord('EV_1', { createdAt: null });
        const recorded = await store.transaction((tx) => tx.recordEvent(record));
        expect(recorded).toEqual({ duplicate: false, seq: expect.any(Number) });
        expect(await store.getEvent('EV_1')).toEqual({
          ...record,
          seq: (recorded as { seq: number }).seq,
          matched: [],
          actions: [],
        });
      });

      it('reports a second event with the same id as a duplicate and keeps the first', async () => {
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1', { body: 'first' })));
        const again = await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1', { body: 'second' })));
        expect(again).toEqual({ duplicate: true });
        expect((await store.getEvent('EV_1'))?.body).toBe('first');
      });

      it('gives every new event a larger seq than the one before', async () => {
        const seqs: number[] = [];
        for (const id of ['EV_a', 'EV_b', 'EV_c']) {
          const recorded = await store.transaction((tx) => tx.recordEvent(eventRecord(id)));
          if (recorded.duplicate) throw new Error('unexpected duplicate');
          seqs.push(recorded.seq);
        }
        expect(seqs[1]).toBeGreaterThan(seqs[0]);
        expect(seqs[2]).toBeGreaterThan(seqs[1]);
      });

      it('keeps seq increasing past a duplicate', async () => {
        const first = await store.transaction((tx) => tx.recordEvent(eventRecord('EV_a')));
        await store.transaction((tx) => tx.recordEvent(eventRecord('EV_a')));
        const next = await store.transaction((tx) => tx.recordEvent(eventRecord('EV_b')));
        expect((next as { seq: number }).seq).toBeGreaterThan((first as { seq: number }).seq);
      });
    });

    describe('saveOutcome', () => {
      it('returns the matched rules and action outcomes with the event', async () => {
        const outcome = {
          matched: ['notify-on-start'],
          actions: [
            { rule: 'notify-on-start', plugin: 'http', status: 'succeeded' as const, result: { status: 204 } },
            {
              rule: 'notify-on-start',
              plugin: 'billing',
              status: 'failed' as const,
              error: { code: 'E_PLUGIN_FAILED', message: 'refused' },
            },
          ],
        };
        await store.transaction(async (tx) => {
          await tx.recordEvent(eventRecord('EV_1'));
          await tx.saveOutcome('EV_1', outcome);
        });
        expect(await store.getEvent('EV_1')).toMatchObject(outcome);
      });

      it('refuses an event that was never recorded', async () => {
        await expect(
          store.transaction((tx) => tx.saveOutcome('EV_missing', { matched: [], actions: [] })),
        ).rejects.toMatchObject({ code: 'E_INTERNAL' });
      });
    });

    describe('transaction', () => {
      it('returns what the work returns once committed', async () => {
        expect(await store.transaction(async () => 'done')).toBe('done');
      });

      it('leaves no event and no dedupe key when the work throws, so a retry runs again', async () => {
        const failure = new Error('plugin blew up');
        await expect(
          store.transaction(async (tx) => {
            await tx.recordEvent(eventRecord('EV_1'));
            await sleep(1);
            throw failure;
          }),
        ).rejects.toBe(failure);
        expect(await store.getEvent('EV_1')).toBeNull();
        expect(await store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))).toMatchObject({
          duplicate: false,
        });
      });

      it('rolls back session transitions with the rest of the transaction', async () => {
        await expect(
          store.transaction(async (tx) => {
            const event = await recordOrdering(tx, 'EV_1', 100);
            await tx.transitionSession({ key: 'room:a', status: 'live' }, event);
            throw new Error('later failure');
          }),
        ).rejects.toThrow('later failure');
        expect(await store.getSession('room:a')).toBeNull();
      });

      const together = oneAtATime ? 'one after another' : 'side by side';
      it(`runs concurrent transactions ${together}, each seeing its own writes only`, async () => {
        let inside = 0;
        let mostInside = 0;
        const results = await Promise.all(
          Array.from({ length: 25 }, (_, index) =>
            store.transaction(async (tx) => {
              inside += 1;
              mostInside = Math.max(mostInside, inside);
              const recorded = await tx.recordEvent(eventRecord(`EV_${index}`));
              await sleep(index % 3);
              await tx.saveOutcome(`EV_${index}`, { matched: [`rule-${index}`], actions: [] });
              inside -= 1;
              return recorded;
            }),
          ),
        );
        const seqs = results.map((result) => (result as { seq: number }).seq);
        if (oneAtATime) {
          expect(mostInside).toBe(1);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        } else {
          expect(mostInside).toBeGreaterThan(1);
        }
        expect(new Set(seqs).size).toBe(25);
        for (let index = 0; index < 25; index += 1) {
          expect((await store.getEvent(`EV_${index}`))?.matched).toEqual([`rule-${index}`]);
        }
      });

      it('rolls back only the failing one among concurrent transactions', async () => {
        const outcomes = await Promise.allSettled(
          ['EV_a', 'EV_b', 'EV_c'].map((id) =>
            store.transaction(async (tx) => {
              await tx.recordEvent(eventRecord(id));
              await sleep(1);
              if (id === 'EV_b') throw new Error('only b fails');
            }),
          ),
        );
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        expect(await store.getEvent('EV_a')).not.toBeNull();
        expect(await store.getEvent('EV_b')).toBeNull();
        expect(await store.getEvent('EV_c')).not.toBeNull();
      });

      it('commits transactions queued together, one failing without undoing the others', async () => {
        const outcomes = await Promise.allSettled(
          Array.from({ length: 10 }, (_, index) =>
            store.transaction(async (tx) => {
              await tx.recordEvent(eventRecord(`EV_${index}`));
              if (index % 4 === 1) throw new Error(`event ${index} fails`);
              await tx.appendAudit({ action: 'record', subject: `EV_${index}`, details: {} });
            }),
          ),
        );
        const failing = (index: number) => index % 4 === 1;
        expect(outcomes.map((outcome) => outcome.status)).toEqual(
          outcomes.map((_, index) => (failing(index) ? 'rejected' : 'fulfilled')),
        );
        for (let index = 0; index < 10; index += 1) {
          expect(await store.getEvent(`EV_${index}`), `EV_${index}`).toEqual(failing(index) ? null : expect.anything());
        }
        const audited = (await store.listAudit({ limit: 20 })).items.map((entry) => entry.subject);
        expect(audited.sort()).toEqual(['EV_0', 'EV_2', 'EV_3', 'EV_4', 'EV_6', 'EV_7', 'EV_8']);
      });

      it('does not show uncommitted writes to reads made while the transaction is still running', async () => {
        let seenDuring: unknown = 'not read';
        await store.transaction(async (tx) => {
          await tx.recordEvent(eventRecord('EV_1'));
          seenDuring = await store.getEvent('EV_1');
        });
        expect(seenDuring).toBeNull();
        expect(await store.getEvent('EV_1')).not.toBeNull();
      });

      it('refuses a write made through a transaction after it has ended', async () => {
        let leaked: StoreTx | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked!.recordEvent(eventRecord('EV_late'))).rejects.toMatchObject({ code: 'E_INTERNAL' });
        expect(await store.getEvent('EV_late')).toBeNull();
      });
    });

    describe('savepoint', () => {
      it('keeps its writes when the work resolves', async () => {
        await store.transaction(async (tx) => {
          expect(await tx.savepoint(() => tx.recordEvent(eventRecord('EV_1')))).toMatchObject({ duplicate: false });
        });
        expect(await store.getEvent('EV_1')).not.toBeNull();
      });

      it('undoes only its own writes when the work throws, and rethrows', async () => {
        const failure = new Error('action failed');
        await store.transaction(async (tx) => {
          const before = await recordOrdering(tx, 'EV_before', 100);
          await tx.transitionSession({ key: 'room:a', status: 'live' }, before);
          await expect(
            tx.savepoint(async () => {
              const inside = await recordOrdering(tx, 'EV_inside', 200);
              await tx.transitionSession({ key: 'room:a', status: 'ended' }, inside);
              throw failure;
            }),
          ).rejects.toBe(failure);
          await tx.recordEvent(eventRecord('EV_after'));
        });
        expect(await store.getEvent('EV_before')).not.toBeNull();
        expect(await store.getEvent('EV_inside')).toBeNull();
        expect(await store.getEvent('EV_after')).not.toBeNull();
        const session = await store.getSession('room:a');
        expect(session).toMatchObject({ status: 'live', eventId: 'EV_before' });
        expect(session?.history).toHaveLength(1);
      });

      it('lets one failed savepoint sit between successful ones', async () => {
        await store.transaction(async (tx) => {
          await tx.savepoint(() => tx.recordEvent(eventRecord('EV_1')));
          await tx
            .savepoint(async () => {
              await tx.recordEvent(eventRecord('EV_2'));
              throw new Error('undo 2');
            })
            .catch(() => undefined);
          await tx.savepoint(() => tx.recordEvent(eventRecord('EV_3')));
        });
        expect(await store.getEvent('EV_1')).not.toBeNull();
        expect(await store.getEvent('EV_2')).toBeNull();
        expect(await store.getEvent('EV_3')).not.toBeNull();
      });

      it('nests, an inner rollback leaving the outer savepoint’s writes', async () => {
        await store.transaction(async (tx) => {
          await tx.savepoint(async () => {
            await tx.recordEvent(eventRecord('EV_outer'));
            await tx
              .savepoint(async () => {
                await tx.recordEvent(eventRecord('EV_inner'));
                throw new Error('undo inner');
              })
              .catch(() => undefined);
          });
        });
        expect(await store.getEvent('EV_outer')).not.toBeNull();
        expect(await store.getEvent('EV_inner')).toBeNull();
      });
    });

    describe('session transitions', () => {
      it('knows no session before its first transition', async () => {
        expect(await store.getSession('room:a')).toBeNull();
      });

      it('starts every session at ready', async () => {
        const decision = await store.transaction(async (tx) =>
          tx.transitionSession({ key: 'room:a', status: 'live', from: ['ready'] }, await recordOrdering(tx, 'EV_1', 100)),
        );
        expect(decision).toEqual({ key: 'room:a', old_status: 'ready', new_status: 'live', applied: true });
        const session = await store.getSession('room:a');
        expect(session).toMatchObject({ key: 'room:a', status: 'live', eventId: 'EV_1' });
        expect(session?.updatedAt).toBeInstanceOf(Date);
      });

      it('applies a newer event', async () => {
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'live' }, await recordOrdering(tx, 'EV_1', 100));
        });
        const decision = await store.transaction(async (tx) =>
          tx.transitionSession({ key: 'room:a', status: 'ended' }, await recordOrdering(tx, 'EV_2', 200)),
        );
        expect(decision).toEqual({ key: 'room:a', old_status: 'live', new_status: 'ended', applied: true });
        expect(await store.getSession('room:a')).toMatchObject({ status: 'ended', eventId: 'EV_2' });
      });

      it('keeps the newer status when an older event arrives late', async () => {
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'ended' }, await recordOrdering(tx, 'EV_finished', 200));
        });
        const decision = await store.transaction(async (tx) =>
          tx.transitionSession({ key: 'room:a', status: 'live' }, await recordOrdering(tx, 'EV_started', 100)),
        );
        expect(decision).toEqual({
          key: 'room:a',
          old_status: 'ended',
          new_status: 'ended',
          applied: false,
          reason: 'stale',
        });
        const session = await store.getSession('room:a');
        expect(session).toMatchObject({ status: 'ended', eventId: 'EV_finished' });
        expect(session?.history).toHaveLength(1);
      });

      it('orders events with the same createdAt by arrival', async () => {
        const [first, second] = await store.transaction(async (tx) => [
          await recordOrdering(tx, 'EV_first', 100),
          await recordOrdering(tx, 'EV_second', 100),
        ]);
        await store.transaction((tx) => tx.transitionSession({ key: 'room:a', status: 'ended' }, second));
        const late = await store.transaction((tx) => tx.transitionSession({ key: 'room:a', status: 'live' }, first));
        expect(late).toMatchObject({ applied: false, reason: 'stale' });
        expect(await store.getSession('room:a')).toMatchObject({ status: 'ended', eventId: 'EV_second' });
      });

      it('orders by arrival when an event has no createdAt', async () => {
        await store.transaction(async (tx) => {
          const first = await recordOrdering(tx, 'EV_first', 100);
          const second = await recordOrdering(tx, 'EV_second', null);
          await tx.transitionSession({ key: 'room:a', status: 'live' }, first);
          expect(await tx.transitionSession({ key: 'room:a', status: 'ended' }, second)).toMatchObject({
            applied: true,
          });
        });
        expect(await store.getSession('room:a')).toMatchObject({ status: 'ended', eventId: 'EV_second' });
      });

      it('refuses a transition whose from guard does not hold', async () => {
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'ended' }, await recordOrdering(tx, 'EV_1', 100));
        });
        const decision = await store.transaction(async (tx) =>
          tx.transitionSession(
            { key: 'room:a', status: 'live', from: ['ready'] },
            await recordOrdering(tx, 'EV_2', 200),
          ),
        );
        expect(decision).toEqual({
          key: 'room:a',
          old_status: 'ended',
          new_status: 'ended',
          applied: false,
          reason: 'guard',
        });
        expect(await store.getSession('room:a')).toMatchObject({ status: 'ended', eventId: 'EV_1' });
      });

      it('lists history newest first, with the status each change left behind', async () => {
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'live' }, await recordOrdering(tx, 'EV_1', 100));
        });
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'ended' }, await recordOrdering(tx, 'EV_2', 200));
        });
        const session = await store.getSession('room:a');
        expect(session?.history).toEqual([
          {
            status: 'ended',
            oldStatus: 'live',
            eventId: 'EV_2',
            eventName: 'room_started',
            eventCreatedAt: 200,
            at: expect.any(Date),
          },
          {
            status: 'live',
            oldStatus: 'ready',
            eventId: 'EV_1',
            eventName: 'room_started',
            eventCreatedAt: 100,
            at: expect.any(Date),
          },
        ]);
      });

      it('moves to a newer event without a history row when the status stays the same', async () => {
        await store.transaction(async (tx) => {
          await tx.transitionSession({ key: 'room:a', status: 'live' }, await recordOrdering(tx, 'EV_1', 100));
        });
        const decision = await store.transaction(async (tx) =>
          tx.transitionSession({ key: 'room:a', status: 'live' }, await recordOrdering(tx, 'EV_2', 200)),
        );
        expect(decision).toMatchObject({ old_status: 'live', new_status: 'live', applied: true });
        const session = await store.getSession('room:a');
        expect(session).toMatchObject({ status: 'live', eventId: 'EV_2' });
        expect(session?.history).toHaveLength(1);

        const older = await store.transaction(async (tx) =>
          tx.transitionSession({ key: 'room:a', status: 'ended' }, await recordOrdering(tx, 'EV_3', 150)),
        );
        expect(older).toMatchObject({ applied: false, reason: 'stale' });
      });

      it('keeps sessions with different keys apart', async () => {
        await store.transaction(async (tx) => {
          const event = await recordOrdering(tx, 'EV_1', 100);
          await tx.transitionSession({ key: 'room:a', status: 'live' }, event);
          await tx.transitionSession({ key: 'room:b', status: 'ended' }, event);
        });
        expect((await store.getSession('room:a'))?.status).toBe('live');
        expect((await store.getSession('room:b'))?.status).toBe('ended');
        expect((await store.getSession('room:a'))?.history).toHaveLength(1);
      });

      it('returns at most the newest 100 history entries', async () => {
        await store.transaction(async (tx) => {
          for (let index = 0; index < 105; index += 1) {
            const event = await recordOrdering(tx, `EV_${index}`, index);
            await tx.transitionSession({ key: 'room:a', status: index % 2 === 0 ? 'live' : 'paused' }, event);
          }
        });
        const history = (await store.getSession('room:a'))?.history ?? [];
        expect(history).toHaveLength(100);
        expect(history[0].eventId).toBe('EV_104');
        expect(history[99].eventId).toBe('EV_5');
      });
    });

    describe('recordIngest', () => {
      describeIngestContract(() => store);
    });

    describe('deliveries', () => {
      describeDeliveryContract(() => store);
    });

    describe('delivery moves', () => {
      describeDeliveryMovesContract(() => store);
    });

    describe('usage ledger', () => {
      describeUsageContract(() => store);
    });

    describe('data lifecycle', () => {
      describeLifecycleContract(() => store, { sideBySide: !oneAtATime });
    });

    describe('live picture', () => {
      describeLivePictureContract(() => store);
    });

    describe('searches', () => {
      describeSearchContract(() => store);
    });

    describe('ping', () => {
      it('resolves while the store is open', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('close', () => {
      it('can be called more than once', async () => {
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
      });

      it('lets a transaction already running finish', async () => {
        let release!: () => void;
        let started!: () => void;
        const inside = new Promise<void>((resolve) => (started = resolve));
        const running = store.transaction(async (tx) => {
          started();
          await new Promise<void>((resolve) => (release = resolve));
          return tx.recordEvent(eventRecord('EV_1'));
        });
        await inside;
        const closing = store.close();
        release();
        await expect(running).resolves.toMatchObject({ duplicate: false });
        await closing;
      });

      it('answers every operation afterwards with E_STORE_UNAVAILABLE', async () => {
        await store.close();
        const operations: Array<[string, () => Promise<unknown>]> = [
          ['migrate', () => store.migrate()],
          ['transaction', () => store.transaction((tx) => tx.recordEvent(eventRecord('EV_1')))],
          ['getEvent', () => store.getEvent('EV_1')],
          ['getSession', () => store.getSession('room:a')],
          ['ping', () => store.ping()],
          ['listDeliveries', () => store.listDeliveries({}, { limit: 10 })],
          ['getDelivery', () => store.getDelivery(1)],
          ['countDeliveries', () => store.countDeliveries()],
          ['listTargets', () => store.listTargets()],
          ['listAudit', () => store.listAudit({ limit: 10 })],
          ['listUsage', () => store.listUsage({}, { limit: 10 })],
          ['sumUsage', () => store.sumUsage({})],
        ];
        for (const [operation, run] of operations) {
          const error = await run().then(
            () => undefined,
            (caught: unknown) => caught,
          );
          expect(isSwitchboardError(error, 'E_STORE_UNAVAILABLE'), operation).toBe(true);
        }
      });
    });
  });
}
