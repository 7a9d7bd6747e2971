/**
 * PostgreSQL for tests: the server SWITCHBOARD_TEST_PG_URL names (default: the local one, trust auth, database
 * `test`), with a fresh schema for each store, dropped afterwards. SWITCHBOARD_SKIP_POSTGRES=1 lets a developer
 * without PostgreSQL leave these tests out; CI refuses it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.ts';

export const TEST_PG_URL = process.env.SWITCHBOARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Honoured only outside CI: in CI the PostgreSQL tests run, and fail when the server is down. */
export const SKIP_POSTGRES = process.env.SWITCHBOARD_SKIP_POSTGRES === '1' && process.env.CI !== 'true';

/** `TEST_PG_URL` with these query parameters added. */
export function testPgUrl(params: Record<string, string>): string {
  const url = new URL(TEST_PG_URL);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.href;
}

/** Runs `sql` on a connection of its own, outside any store. */
export async function adminQuery<Row extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query<Row>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Fails, saying what to do, when the test server cannot be reached: the PostgreSQL tests never pass by not running. */
export async function requirePostgres(): Promise<void> {
  try {
    await adminQuery('SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at SWITCHBOARD_TEST_PG_URL (${new URL(TEST_PG_URL).host}): ${(error as Error).message}. ` +
        'Start it or point SWITCHBOARD_TEST_PG_URL at one; to leave these tests out locally, set SWITCHBOARD_SKIP_POSTGRES=1.',
    );
  }
}

export interface TestSchema {
  name: string;
  /** The test server's URL with `?schema=` naming this schema. */
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty schema with a name of its own; `drop()` removes it with everything in it. */
export async function createTestSchema(options: { create?: boolean } = {}): Promise<TestSchema> {
  const name = `switchboard_test_${randomBytes(6).toString('hex')}`;
  if (options.create ?? true) await adminQuery(`CREATE SCHEMA ${name}`);
  return {
    name,
    url: testPgUrl({ schema: name }),
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    },
  };
}

/**
 * A fresh schema for each test of the calling suite, and the stores a test opens (on it unless given another URL),
 * closed before the schema is dropped.
 */
export function storesOnFreshSchema(): { schema(): TestSchema; open(url?: string): PostgresStore } {
  let schema: TestSchema;
  const stores: PostgresStore[] = [];
  beforeEach(async () => {
    schema = await createTestSchema();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    await schema.drop();
  });
  return {
    schema: () => schema,
    open(url = schema.url) {
      const store = new PostgresStore(url);
      stores.push(store);
      return store;
    },
  };
}
