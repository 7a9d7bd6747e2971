/** `switchboard validate [dir]`: loads the rules as `serve` would and lists every problem with file:line:col. */
import { isSwitchboardError } from '../errors.ts';
import type { Environment } from '../rules/document/env.ts';
import { loadRules } from '../rules/load.ts';
import { loadPlugins } from '../plugins/registry.ts';

export async function validate(options: { dir: string; pluginsDir: string; env: Environment }): Promise<number> {
  const plugins = await loadPlugins(options.pluginsDir);
  try {
    const rules = await loadRules({ dir: options.dir, plugins: plugins.specs(), env: options.env });
    const enabled = rules.rules.filter((rule) => rule.enabled).length;
    console.log(`${options.dir}: ${rules.rules.length} rules valid (${enabled} enabled)`);
    return 0;
  } catch (error) {
    if (!isSwitchboardError(error, 'E_RULES_INVALID')) throw error;
    console.error(error.message);
    return 1;
  }
}
