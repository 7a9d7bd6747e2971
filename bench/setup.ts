/** What a benchmark sets up and throws away: its temporary directory, its servers' API key, fresh stores. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Credentials } from './server-process.ts';

export type Database = 'sqlite' | 'postgres';

/** The checkout these benchmarks belong to. */
export const ROOT = resolve(import.meta.dirname, '..');

/** The PostgreSQL server of the `--db postgres` runs: the tests' own. */
export const PG_URL = process.env.SWITCHBOARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A temporary directory, removed however the benchmark ends (Ctrl-C included), and a fresh API key. */
export function prepareRun(name: string): { workDir: string; credentials: Credentials } {
  const workDir = mkdtempSync(join(tmpdir(), `switchboard-${name}-`));
  process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
  process.once('SIGINT', () => process.exit(130));
  return { workDir, credentials: { apiKey: 'APIbench', apiSecret: randomBytes(32).toString('base64url') } };
}

/** An empty store: SQLite, a `file`; PostgreSQL, a `schema`, which the servers' migrations create. */
export type FreshDatabase = { url: string; file: string; schema: string; drop(): Promise<void> };

export async function freshDatabase(db: Database, workDir: string): Promise<FreshDatabase> {
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  if (db === 'sqlite') {
    const file = join(workDir, `${name}.db`);
    const drop = async () => ['', '-wal', '-shm'].forEach((suffix) => rmSync(`${file}${suffix}`, { force: true }));
    return { url: `file:${file}`, file, schema: '', drop };
  }
  await postgresQuery('SELECT 1'); // an unreachable server fails here, before any server under test starts
  const url = new URL(PG_URL);
  url.searchParams.set('schema', name);
  return { url: url.href, file: '', schema: name, drop: async () => void (await postgresQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`)) };
}

/** One statement on `PG_URL`, in `schema` if given, on a connection of its own. */
export async function postgresQuery(sql: string, params: unknown[] = [], schema?: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO ${schema}`);
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end();
  }
}
