/** `switchboard migrate`: applies the schema migrations the database lacks, for deployments that do it as a step. */
import { sqliteMigrations } from '../store/migrations/sqlite.ts';
import { openStore } from '../store/open.ts';

/** Prints each migration applied and the schema version reached; returns the exit code. */
export async function migrate(options: { databaseUrl: string }): Promise<number> {
  const store = await openStore(options.databaseUrl);
  try {
    const applied = await store.migrate();
    for (const migration of applied) console.log(`applied ${migration.version} ${migration.name}`);
    if (applied.length === 0) console.log('nothing to apply');
    // Both backends list the same versions (migrations/*.ts).
    const latest = Math.max(...sqliteMigrations.map((migration) => migration.version));
    console.log(`${store.kind === 'postgres' ? 'PostgreSQL' : 'SQLite'} schema is at version ${latest}`);
    return 0;
  } finally {
    await store.close();
  }
}
