/** What a schema migration is, and which ones a database still needs. Each dialect applies its own list through this. */
import { SwitchboardError } from '../../errors.ts';

export interface Migration {
  /** Steps apply in increasing version order; each dialect numbers its own list. */
  version: number;
  name: string;
  sql: string;
}

/**
 * The migrations `applied` lacks, in order. Refuses a database that a newer Switchboard has migrated; `retired` are
 * versions an earlier release applied that the list no longer has (they did nothing), not a sign of a newer one.
 */
export function pendingMigrations(
  known: readonly Migration[],
  applied: readonly number[],
  retired: readonly number[] = [],
): Migration[] {
  const knownVersions = new Set([...known.map((migration) => migration.version), ...retired]);
  const unknown = applied.filter((version) => !knownVersions.has(version));
  if (unknown.length > 0) {
    const latest = Math.max(0, ...knownVersions);
    throw new SwitchboardError(
      'E_CONFIG_INVALID',
      `The database has schema version ${Math.max(...unknown)}, but this Switchboard knows versions up to ${latest}: ` +
        'it was migrated by a newer release. Upgrade Switchboard, or point DATABASE_URL at another database.',
    );
  }
  const done = new Set(applied);
  return known.filter((migration) => !done.has(migration.version));
}
