/**
 * Holds the rules in force and swaps them on reload (SIGHUP or a change under RULES_DIR or a PLUGINS_DIR directory),
 * loading the plugins again with them. An invalid change, to a rule or a plugin, keeps the previous rules and
 * plugins and says why, so a typo never takes automations down.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isSwitchboardError } from '../errors.ts';
import { loadRules } from '../rules/load.ts';
import type { RuleProblem, RuleSet } from '../rules/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { ReloadablePlugins } from '../plugins/registry.ts';

interface RulesSource {
  dir: string;
  /** Loaded again with the rules, and put in force with them or not at all. */
  plugins: ReloadablePlugins;
  env: Record<string, string | undefined>;
}

/** One load of the rules: the first at start-up, then each reload. */
export interface RulesLoad {
  at: Date;
  /** What asked for it: `start-up`, `SIGHUP`, `file change`, … */
  reason: string;
  outcome: 'success' | 'failure';
  /** Why a failed load failed; a problem outside any rule file (a missing directory) has no location. */
  problems: ReadonlyArray<Pick<RuleProblem, 'message' | 'ruleId'> & Partial<RuleProblem>>;
}

export interface RulesStatus {
  /** The latest load; when it failed, the rules in force are those of `lastSuccess`. */
  last: RulesLoad;
  lastSuccess: RulesLoad;
  /** Loads so far by outcome, start-up included. */
  loads: Record<RulesLoad['outcome'], number>;
}

export interface RulesHolder {
  current(): RuleSet;
  status(): RulesStatus;
  /** Loads the rules again; on failure keeps the ones in force and resolves false. */
  reload(reason: string): Promise<boolean>;
  /** Reloads after files under the rules directory change, once they settle. */
  watch(debounceMs?: number): void;
  close(): void;
}

export async function createRulesHolder(source: RulesSource, log: Logger): Promise<RulesHolder> {
  let rules = await loadRules({ ...source, plugins: source.plugins.specs() });
  const started: RulesLoad = { at: new Date(), reason: 'start-up', outcome: 'success', problems: [] };
  const status: RulesStatus = { last: started, lastSuccess: started, loads: { success: 1, failure: 0 } };
  let watcher: FSWatcher | undefined;
  let parentWatcher: FSWatcher | undefined;
  let pluginWatchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let reloading: Promise<boolean> = Promise.resolve(true);

  async function loadOnce(reason: string): Promise<boolean> {
    try {
      const plugins = await source.plugins.loadAgain();
      rules = await loadRules({ ...source, plugins: plugins.specs() });
      source.plugins.use(plugins);
      record({ at: new Date(), reason, outcome: 'success', problems: [] });
      log.info({ reason, rules: rules.rules.length, plugins: source.plugins.list().length }, 'rules reloaded');
      return true;
    } catch (error) {
      const problems = problemsOf(error);
      record({ at: new Date(), reason, outcome: 'failure', problems });
      log.error({ reason, err: error, problems }, 'rules reload failed; keeping the rules in force');
      return false;
    }
  }

  function record(load: RulesLoad): void {
    status.last = load;
    if (load.outcome === 'success') status.lastSuccess = load;
    status.loads[load.outcome] += 1;
  }

  const holder: RulesHolder = {
    current: () => rules,
    status: () => ({ ...status, loads: { ...status.loads } }),
    reload(reason) {
      reloading = reloading.then(() => loadOnce(reason));
      return reloading;
    },
    watch(debounceMs = 200) {
      const changed = () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void holder.reload('file change'), debounceMs);
      };
      // A log, an editor's swap or backup file written beside the rules is no reason to reload them.
      const changedIf = (kind: RegExp) => (_event: string, name: string | null) => {
        if (mayBe(kind, name)) changed();
      };
      // A watch follows the directory it was opened on: when RULES_DIR is deleted or replaced (a deploy that moves
      // a new directory into place), the watch on the parent sees its name change and watches the new one.
      const watchDir = () => {
        watcher?.close();
        try {
          watcher = watch(source.dir, { recursive: true }, changedIf(RULE_FILE)).on('error', () => watcher?.close());
        } catch {
          watcher = undefined; // gone for now: the parent's watch calls again when it is back
        }
      };
      watchDir();
      pluginWatchers = source.plugins.userDirs.map((dir) =>
        watch(dir, { recursive: true }, changedIf(PLUGIN_SOURCE)).on('error', (error) =>
          log.warn({ err: error, dir }, 'plugins directory watch failed; reload with SIGHUP'),
        ),
      );
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
      for (const pluginWatcher of pluginWatchers) pluginWatcher.close();
    },
  };
  return holder;
}

const RULE_FILE = /\.ya?ml$/;
const PLUGIN_SOURCE = /\.(ts|js|mjs)$/;

/**
 * Whether a watched change to `name` (a path below the directory; null when the platform does not say) may touch
 * what is loaded: a file of `kind`, or a directory (a name without an extension) that may hold some.
 */
function mayBe(kind: RegExp, name: string | null): boolean {
  if (name === null) return true;
  const last = basename(name);
  if (last.startsWith('.')) return false;
  return kind.test(last) || !last.includes('.');
}

function problemsOf(error: unknown): RulesLoad['problems'] {
  const problems = isSwitchboardError(error, 'E_RULES_INVALID') ? (error.details as { problems?: RuleProblem[] } | undefined)?.problems : undefined;
  return problems && problems.length > 0 ? problems : [{ message: (error as Error).message }];
}
