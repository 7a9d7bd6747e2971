/**
 * `switchboard prune`: what the retention settings remove now, straight on the database (like `migrate`), by table;
 * with --dry-run nothing is removed, only counted.
 */
import { retentionSettings, type ResolvedSettings } from '../config.ts';
import { prunable, pruneOnce } from '../engine/retention/pruner.ts';
import { openStore } from '../store/open.ts';
import type { PrunedRows } from '../store/store.ts';
import { table } from './table.ts';

export async function prune(settings: ResolvedSettings, options: { dryRun: boolean; json: boolean }): Promise<number> {
  const retention = retentionSettings(settings);
  const store = await openStore(settings.DATABASE_URL);
  try {
    let rows: PrunedRows = {};
    const count = async () => {
      rows = await prunable(store, retention);
    };
    const remove = async () => {
      rows = await pruneOnce({ store, retention, metrics: { pruned: () => undefined, pruneRan: () => undefined } }, () => false);
    };
    if (!(await store.runAlone('prune', options.dryRun ? count : remove))) {
      console.error('another process is pruning this database now; try again later');
      return 1;
    }
    if (options.json) {
      console.log(JSON.stringify({ dry_run: options.dryRun, rows }, null, 2));
    } else if (Object.keys(rows).length === 0) {
      console.log('nothing to prune');
    } else {
      const header = options.dryRun ? 'WOULD GO' : 'PRUNED';
      console.log(table([['TABLE', header], ...Object.entries(rows).map(([name, count]) => [name, String(count)])]));
    }
    return 0;
  } finally {
    await store.close();
  }
}
