/** `switchboard migrate`: applies the schema migrations the database lacks, for deployments that do it as a step. */
import { openStore } from '../store/open.ts';
import { postgresMigrations } from '../store/postgres/migrations.ts';
import { sqliteMigrations } from '../store/sqlite/migrations.ts';

/** Prints each migration applied and the schema version reached; returns the exit code. */
export async function migrate(options: { databaseUrl: string }): Promise<number> {
  const store = await openStore(options.databaseUrl);
  try {
    const applied = await store.migrate();
    for (const migration of applied) console.log(`applied ${migration.version} ${migration.name}`);
    if (applied.length === 0) console.log('nothing to apply');
    // Each backend numbers its own list.
    const migrations = store.kind === 'postgres' ? postgresMigrations : sqliteMigrations;
    const latest = Math.max(...migrations.map((migration) => migration.version));
    console.log(`${store.kind === 'postgres' ? 'PostgreSQL' : 'SQLite'} schema is at version ${latest}`);
    return 0;
  } finally {
    await store.close();
  }
}
