/**
 * A prune batch on PostgreSQL commits without waiting for its log's flush (LifecycleDialect.deferFlush): only for its
 * own transaction, so ingest on the same pooled connection afterwards still commits durably.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/store/sql/dialect.ts';
import { requirePostgres, SKIP_POSTGRES, storesOnFreshSchema } from '../helpers/postgres.ts';
import { eventRecord } from './store-contract.ts';

describe.skipIf(SKIP_POSTGRES)('a PostgreSQL prune batch', () => {
  beforeAll(requirePostgres);
  const fresh = storesOnFreshSchema();

  it('defers its own flush only: the connection it used commits durably again afterwards', async () => {
    // One connection: the batch's and every later statement's.
    const store = fresh.open(`${fresh.schema().url}&pool_size=1`);
    await store.migrate();
    const old = eventRecord('EV_old', { receivedAt: new Date('2024-01-01T00:00:00Z') });
    await store.recordIngest({ event: old, change: null, matched: [], actions: [] });
    const setting = () =>
      (store as unknown as { read<T>(work: (db: Executor) => Promise<T>): Promise<T> }).read(async (db) => {
        const [row] = await db.rows<{ value: string }>(`SELECT current_setting('synchronous_commit') AS value`);
        return row.value;
      });

    expect(await store.pruneBatch('events', new Date(), 10)).toMatchObject({ pruned: { events: 1 } });
    expect(await store.getEvent('EV_old')).toBeNull();
    expect(await setting()).toBe('on');
  });
});
