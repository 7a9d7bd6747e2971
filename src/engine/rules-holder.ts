/**
 * Holds the rules in force and swaps them on reload (SIGHUP or a change under RULES_DIR). An invalid change keeps
 * the previous rules and says why, so a typo never takes automations down.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { SwitchboardError } from '../errors.ts';
import { loadRules } from '../rules/load.ts';
import type { RuleSet } from '../rules/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { PluginSpecs } from '../plugins/params.ts';

interface RulesSource {
  dir: string;
  plugins: PluginSpecs;
  env: Record<string, string | undefined>;
}

export interface RulesHolder {
  current(): RuleSet;
  /** Loads the rules again; on failure keeps the ones in force and resolves false. */
  reload(reason: string): Promise<boolean>;
  /** Reloads after files under the rules directory change, once they settle. */
  watch(debounceMs?: number): void;
  close(): void;
}

export async function createRulesHolder(source: RulesSource, log: Logger): Promise<RulesHolder> {
  let rules = await loadRules(source);
  let watcher: FSWatcher | undefined;
  let parentWatcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let reloading: Promise<boolean> = Promise.resolve(true);

  async function loadOnce(reason: string): Promise<boolean> {
    try {
      rules = await loadRules(source);
      log.info({ reason, rules: rules.rules.length }, 'rules reloaded');
      return true;
    } catch (error) {
      const problems = (error as SwitchboardError).details ?? { message: (error as Error).message };
      log.error({ reason, err: error, ...problems }, 'rules reload failed; keeping the rules in force');
      return false;
    }
  }

  const holder: RulesHolder = {
    current: () => rules,
    reload(reason) {
      reloading = reloading.then(() => loadOnce(reason));
      return reloading;
    },
    watch(debounceMs = 200) {
      const changed = () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void holder.reload('file change'), debounceMs);
      };
      // A watch follows the directory it was opened on: when RULES_DIR is deleted or replaced (a deploy that moves
      // a new directory into place), the watch on the parent sees its name change and watches the new one.
      const watchDir = () => {
        watcher?.close();
        try {
          watcher = watch(source.dir, { recursive: true }, changed).on('error', () => watcher?.close());
        } catch {
          watcher = undefined; // gone for now: the parent's watch calls again when it is back
        }
      };
      watchDir();
      const dir = resolve(source.dir);
      parentWatcher = watch(dirname(dir), (_event, name) => {
        if (name !== basename(dir)) return;
        watchDir();
        changed();
      }).on('error', (error) => log.warn({ err: error }, 'rules directory watch failed; reload with SIGHUP'));
    },
    close() {
      clearTimeout(debounce);
      watcher?.close();
      parentWatcher?.close();
    },
  };
  return holder;
}
