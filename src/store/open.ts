/** Opens the store that DATABASE_URL names: `file:` is SQLite, `postgres://` PostgreSQL. Callers run `migrate()`. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchboardError } from '../errors.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite/store.ts';
import type { Store } from './store.ts';

const ACCEPTED_FORMS =
  'file:./data/switchboard.db (relative to the working directory), file:/absolute/path.db, file::memory: ' +
  'or postgres://user:password@host:5432/database';

/**
 * A PostgreSQL store connects when first used, not here; see postgres/connection.ts for its URL parameters
 * (`schema`, `pool_size`).
 *
 * @example
 *   const store = await openStore('file:./data/switchboard.db');
 *   await store.migrate();
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    // Loaded only when used: a SQLite process has no use for the driver (docs/performance.md, memory).
    const { PostgresStore } = await import('./postgres/store.ts');
    return new PostgresStore(url);
  }
  const location = sqliteLocation(url);
  if (location !== ':memory:') createParentDirectory(location);
  return new SqliteStore(location, options);
}

/** Only the SQLite store has background work to report on. */
export type OpenStoreOptions = SqliteStoreOptions;

function sqliteLocation(url: string): string {
  const invalid = () =>
    new SwitchboardError('E_CONFIG_INVALID', `DATABASE_URL is not a database URL Switchboard accepts. Use ${ACCEPTED_FORMS}.`);
  if (!url.startsWith('file:') || url === 'file:') throw invalid();
  if (!url.startsWith('file://')) return url.slice('file:'.length);
  // The standard form, file:///absolute/path.db.
  try {
    return fileURLToPath(url);
  } catch {
    throw invalid();
  }
}

function createParentDirectory(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new SwitchboardError(
      'E_STORE_UNAVAILABLE',
      `Cannot create the directory for the SQLite database at ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
