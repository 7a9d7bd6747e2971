/**
 * `npm run bench:pg-claim -- [<checkout> …]`: how long one claim takes on PostgreSQL over a backlog of ordered
 * deliveries, when the claim statement was first used while the tables were empty, as on a fresh deployment (or a
 * fresh schema in `bench:deliver`). A plan cached then can stay in use on that connection as the queue grows.
 *
 * Each checkout's own PostgresStore (default: this one), on a fresh schema, with one pooled connection: eight claims
 * on the empty queue, then 3,000 deliveries in 500 ordering groups, the first of each claimed, then five claims of
 * up to 16 (each must pass over the rest of every group). Flags: --pg-url <url>.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Store } from '../src/store/store.ts';
import { describeCode, describeMachine, formatNumber, machine, median } from './report.ts';

const DELIVERIES = 3_000;
const GROUPS = 500;
const CLAIMS = 5;
const LIMIT = 16;

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' } },
});
const checkouts = positionals.length > 0 ? positionals.map((path) => resolve(path)) : [resolve(import.meta.dirname, '..')];

console.log(`PostgreSQL claim benchmark, commit ${describeCode()}: ${describeMachine(machine())}`);
console.log(`Command: npm run bench:pg-claim${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
for (const checkout of checkouts) {
  const times = await claimTimes(checkout);
  console.log(`${checkout}: claim over ${formatNumber(DELIVERIES)} deliveries (${GROUPS} running): median ${formatNumber(median(times), 1)} ms (${times.map((ms) => ms.toFixed(1)).join(', ')})`);
}

async function claimTimes(checkout: string): Promise<number[]> {
  // open.ts: where the store lives under src/store differs between checkouts; openStore does not.
  const { openStore } = (await import(resolve(checkout, 'src/store/open.ts'))) as { openStore: (url: string) => Promise<Store> };
  const schema = `bench_claim_${process.pid}`;
  const admin = new pg.Client({ connectionString: flags['pg-url'] });
  await admin.connect();
  const url = new URL(flags['pg-url']!);
  url.searchParams.set('schema', schema);
  url.searchParams.set('pool_size', '1');
  const store = await openStore(url.toString());
  try {
    await store.migrate();
    const claim = (limit: number, owner = 'worker') =>
      store.transaction((tx) => tx.claimDueDeliveries({ owner, now: new Date(Date.now() + 1_000), limit, leaseMs: 60_000, skipTargets: [] }));
    for (let round = 0; round < 8; round++) await claim(LIMIT);
    await enqueueBacklog(store);
    await claim(GROUPS, 'first-of-each-group');
    const times: number[] = [];
    for (let round = 0; round < CLAIMS; round++) {
      const started = performance.now();
      await claim(LIMIT);
      times.push(performance.now() - started);
    }
    return times;
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

async function enqueueBacklog(store: Store): Promise<void> {
  const now = new Date();
  for (let first = 0; first < DELIVERIES; first += 100) {
    await store.transaction(async (tx) => {
      for (let index = first; index < first + 100; index++) {
        const id = `EV_${index}`;
        const recorded = await tx.recordEvent({ id, name: 'room_started', createdAt: 1, apiKey: 'key', body: JSON.stringify({ id }), receivedAt: now });
        if (recorded.duplicate) throw new Error(`${id} was recorded twice`);
        await tx.enqueueDelivery({
          eventId: id,
          eventSeq: recorded.seq,
          eventName: 'room_started',
          ruleId: 'forward',
          actionIndex: 0,
          plugin: 'http',
          params: {},
          target: 'http://receiver.test',
          orderingKey: `room-${index % GROUPS}`,
          maxAttempts: 3,
          retrySchedule: [0],
          timeoutMs: 1_000,
          dueAt: now,
        });
      }
    });
  }
}
