/**
 * Reaching PostgreSQL for the PostgreSQL store: DATABASE_URL read into a pool's settings, queries run with driver
 * failures reported as E_STORE_UNAVAILABLE, and the URL shown in messages only without its password.
 */
import pg from 'pg';
import { SwitchboardError } from '../../errors.ts';

export const DEFAULT_POOL_SIZE = 10;
const MAX_POOL_SIZE = 1_000;
/** Both for opening a connection and for waiting for a free one in the pool. */
const CONNECT_TIMEOUT_MS = 10_000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresTarget {
  pool: pg.PoolConfig;
  /** The URL without its password or query, for messages. */
  display: string;
  /** The schema `?schema=` names; `migrate()` creates it when missing. */
  schema: string | null;
}

/** A statement the driver prepares once per connection (named) or a one-off text. */
export type Sql = string | { name: string; text: string };

/** ids, seqs and counts are bigint in the schema; they stay far below 2^53, so they are read as plain numbers. */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, Number);

/**
 * Reads a `postgres://` or `postgresql://` DATABASE_URL. Switchboard's own query parameters, taken out before the
 * URL reaches the driver: `schema=name` (the schema to use, as search_path) and `pool_size=N` (connections per
 * process, default 10). Every other parameter (`sslmode`, `application_name`, `options=-c search_path=…`) is the
 * driver's.
 */
export function postgresTarget(url: string): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL is left out of the message: it may hold a password.
    throw invalid(
      'DATABASE_URL is not a valid postgres:// URL (check that special characters in the password are percent-encoded).',
    );
  }
  const display = `${parsed.protocol}//${parsed.username ? `${parsed.username}@` : ''}${parsed.host}${parsed.pathname}`;
  const schema = parsed.searchParams.get('schema');
  const poolSize = parsed.searchParams.get('pool_size');
  parsed.searchParams.delete('schema');
  parsed.searchParams.delete('pool_size');

  if (schema !== null) {
    if (!SCHEMA_NAME.test(schema)) {
      throw invalid(
        `DATABASE_URL's schema "${schema}" is not a schema name Switchboard accepts: use lower-case letters, digits and _.`,
      );
    }
    const options = parsed.searchParams.get('options') ?? '';
    if (/search_path/i.test(options)) {
      throw invalid('DATABASE_URL names a schema twice, with schema= and with options=-c search_path=…: keep one.');
    }
    parsed.searchParams.set('options', `${options} -c search_path=${schema}`.trim());
  }

  return {
    pool: {
      connectionString: parsed.href,
      max: poolSize === null ? DEFAULT_POOL_SIZE : parsePoolSize(poolSize),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      types,
    },
    display,
    schema,
  };
}

function parsePoolSize(value: string): number {
  const size = Number(value);
  if (!Number.isInteger(size) || size < 1 || size > MAX_POOL_SIZE) {
    throw invalid(`DATABASE_URL's pool_size is "${value}": expected a whole number from 1 to ${MAX_POOL_SIZE}.`);
  }
  return size;
}

function invalid(message: string): SwitchboardError {
  return new SwitchboardError('E_CONFIG_INVALID', message);
}

/** Runs one statement on a pool or a checked-out client; see `surfaceFailure`. */
export async function query<Row extends pg.QueryResultRow>(
  on: pg.Pool | pg.PoolClient,
  display: string,
  sql: Sql,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row>> {
  try {
    const bound = values.some(holdsNul) ? values.map(withoutNul) : values;
    return await on.query<Row>(typeof sql === 'string' ? { text: sql, values: bound } : { ...sql, values: bound });
  } catch (error) {
    throw surfaceFailure(error, display);
  }
}

/**
 * PostgreSQL's text cannot hold NUL (U+0000), and end users choose room names, identities and metadata: every NUL
 * in a text value written or looked up becomes U+FFFD, the replacement character, rather than failing the whole
 * event. JSON values are bound as JSON text, where a NUL is the escape `\u0000` and is kept (json columns, not
 * jsonb); event bodies are kept as received, as text, and a parsed body holds no raw NUL.
 */
function withoutNul(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNul);
  return typeof value === 'string' ? value.replaceAll('\0', '\uFFFD') : value;
}

/** A text value, or a list of them (bound as an array), that holds a NUL. */
function holdsNul(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(holdsNul);
  return typeof value === 'string' && value.includes('\0');
}

/** Checks a client out of the pool; see `surfaceFailure`. */
export async function connect(pool: pg.Pool, display: string): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (error) {
    throw surfaceFailure(error, display);
  }
}

/** SQLSTATEs (or their two-character classes) that say the database cannot serve us now, not that our SQL is wrong. */
const UNAVAILABLE_SQLSTATES = new Set([
  '08', // connection exception
  '28', // invalid authorization: the server refuses us
  '53', // insufficient resources: too many connections, disk full, out of memory
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '3D000', // invalid_catalog_name: the database does not exist (yet)
]);
/** A transaction that lost a deadlock or a serialization conflict: running it again can succeed. */
const CONFLICT_SQLSTATES = new Set(['40001', '40P01']);

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The driver's own errors have no code; these are the ones about the connection rather than the statement. */
const DRIVER_CONNECTION_FAILURES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed',
  'Cannot use a pool after calling end',
  'Query read timeout',
  'The server does not support SSL',
  'There was an error establishing an SSL',
];

/**
 * The error to raise for a driver failure: E_STORE_UNAVAILABLE when the server is gone, refuses us or is out of
 * resources, or when the transaction lost a deadlock (the caller, or LiveKit through a 503, can run it again); the
 * driver's error as it is when our statement is at fault.
 */
export function surfaceFailure(error: unknown, display: string): unknown {
  if (!(error instanceof Error)) return error;
  if (error instanceof pg.DatabaseError) {
    const code = error.code ?? '';
    if (CONFLICT_SQLSTATES.has(code)) {
      return new SwitchboardError(
        'E_STORE_UNAVAILABLE',
        `PostgreSQL at ${display} rolled the transaction back (${error.message}); it can be run again.`,
        { cause: error },
      );
    }
    if (!UNAVAILABLE_SQLSTATES.has(code) && !UNAVAILABLE_SQLSTATES.has(code.slice(0, 2))) return error;
  } else if (!isNetworkFailure(error) && !DRIVER_CONNECTION_FAILURES.some((start) => error.message.startsWith(start))) {
    return error;
  }
  const message = `The PostgreSQL database at ${display} is unavailable: ${describe(error)}`;
  return new SwitchboardError('E_STORE_UNAVAILABLE', message, { cause: error });
}

function isNetworkFailure(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && NETWORK_ERROR_CODES.has(code)) return true;
  // A host with several addresses (localhost: ::1 and 127.0.0.1) fails with one error for each.
  if (!(error instanceof AggregateError)) return false;
  return error.errors.some((inner) => inner instanceof Error && isNetworkFailure(inner));
}

function describe(error: Error): string {
  if (error.message) return error.message;
  if (error instanceof AggregateError) {
    return error.errors.map((inner) => (inner instanceof Error ? inner.message : String(inner))).join('; ');
  }
  return (error as NodeJS.ErrnoException).code ?? error.name;
}
