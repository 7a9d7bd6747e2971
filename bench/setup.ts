/**
 * What a benchmark sets up and throws away: its temporary directory and API key, fresh stores, and the servers under
 * test, each in a child process of its own (bench/servers/) so that it never shares an event loop (or a core it did
 * not ask for) with the load generator. Whatever happens to the benchmark, none outlives it.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Arrivals, ReceiverCounts } from './servers/counting-receiver.ts';

export type Database = 'sqlite' | 'postgres';
export type Credentials = { apiKey: string; apiSecret: string };

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
export type FreshDatabase = { db: Database; url: string; file: string; schema: string; drop(): Promise<void> };

export async function freshDatabase(db: Database, workDir: string): Promise<FreshDatabase> {
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  if (db === 'sqlite') {
    const file = join(workDir, `${name}.db`);
    const drop = async () => ['', '-wal', '-shm'].forEach((suffix) => rmSync(`${file}${suffix}`, { force: true }));
    return { db, url: `file:${file}`, file, schema: '', drop };
  }
  await postgresQuery('SELECT 1'); // an unreachable server fails here, before any server under test starts
  const url = new URL(PG_URL);
  url.searchParams.set('schema', name);
  return { db, url: url.href, file: '', schema: name, drop: async () => void (await postgresQuery(`DROP SCHEMA IF EXISTS ${name} CASCADE`)) };
}

/** One statement on a store, on a connection of its own: its rows. */
export async function query(database: FreshDatabase, sql: string): Promise<Array<Record<string, unknown>>> {
  if (database.db === 'postgres') return postgresQuery(sql, database.schema);
  const sqlite = new DatabaseSync(database.file);
  try {
    return sqlite.prepare(sql).all();
  } finally {
    sqlite.close();
  }
}

async function postgresQuery(sql: string, schema?: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    if (schema) await client.query(`SET search_path TO ${schema}`);
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

export type ServerProcess = Awaited<ReturnType<typeof startServerProcess>>;
type SwitchboardSetup = { credentials: Credentials; rulesDir: string; databaseUrl: string; env?: Record<string, string>; execArgv?: string[] };

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const ARRIVALS_POLL_MS = 50;

/**
 * The Switchboard of `checkout` on loopback, a port of the system's choosing, and LOG_LEVEL=warn (at info every
 * webhook writes a log line, which would be measured too); `env` adds to that.
 */
export function startSwitchboard(checkout: string, { credentials, rulesDir, databaseUrl, env, execArgv }: SwitchboardSetup) {
  return startServerProcess(join(checkout, 'bench/servers/switchboard.ts'), {
    PORT: '0',
    HOST: '127.0.0.1',
    LIVEKIT_API_KEY: credentials.apiKey,
    LIVEKIT_API_SECRET: credentials.apiSecret,
    RULES_DIR: rulesDir,
    PLUGINS_DIR: join(checkout, 'plugins'),
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    ...env,
  }, execArgv);
}

/** The bare baseline (servers/baseline.ts): it only verifies each delivery. */
export function startBaseline({ apiKey, apiSecret }: Credentials) {
  return startServerProcess(join(import.meta.dirname, 'servers/baseline.ts'), { LIVEKIT_API_KEY: apiKey, LIVEKIT_API_SECRET: apiSecret });
}

export type CountingReceiver = Awaited<ReturnType<typeof startCountingReceiver>>;

/** The delivery benchmarks' third-party endpoint (servers/counting-receiver.ts); `host` to listen on, 127.0.0.1 by default. */
export async function startCountingReceiver(host?: string) {
  const child = await startServerProcess(join(import.meta.dirname, 'servers/counting-receiver.ts'), host ? { RECEIVER_HOST: host } : {});
  return {
    ...child,
    counts: () => child.ask<ReceiverCounts>('counts'),
    /** The first arrivals since the previous call (or the start), waiting up to `limitMs` for `count` of them. */
    async arrivals(count = 0, limitMs = 0): Promise<Arrivals> {
      const deadline = performance.now() + limitMs;
      let taken = await child.ask<Arrivals>('arrivals');
      while (taken.ids.length < count && performance.now() < deadline) {
        await sleep(ARRIVALS_POLL_MS);
        const more = await child.ask<Arrivals>('arrivals');
        taken = { ids: taken.ids.concat(more.ids), at: taken.at.concat(more.at) };
      }
      return taken;
    },
  };
}

async function startServerProcess(script: string, env: Record<string, string>, execArgv: string[] = []) {
  const child = fork(script, [], { execPath: process.execPath, execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  // The child's first message says where it listens; each one after answers the oldest question still waiting.
  const waiting: Array<{ resolve(message: unknown): void; reject(error: Error): void }> = [];
  const next = <Message>() => new Promise<Message>((resolve, reject) => waiting.push({ resolve: resolve as (message: unknown) => void, reject }));
  child.on('message', (message) => waiting.shift()?.resolve(message));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      for (const { reject } of waiting.splice(0)) reject(new Error(`${script} exited before it answered (code ${code}, signal ${signal})`));
      resolve();
    }),
  );
  const timeout = setTimeout(() => waiting[0]?.reject(new Error(`${script} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
  const { listening } = await next<{ listening: string }>().finally(() => clearTimeout(timeout));
  return {
    /** Where to send requests. */
    url: listening,
    pid: child.pid!,
    /** The child's answer to the question `type` (servers/lifecycle.ts). */
    ask<Answer>(type: string): Promise<Answer> {
      const answer = next<Answer>();
      child.send({ type });
      return answer;
    },
    /** Stops the server and waits for its process to exit (SIGKILL after a grace period). */
    async stop(): Promise<void> {
      child.kill('SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    },
  };
}
