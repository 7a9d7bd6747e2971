/** Loads the rules directory into a RuleSet: the one place rule files are read. */
import { SwitchboardError } from '../errors.ts';
import type { PluginSpecs } from '../plugins/params.ts';
import { compileRuleSources } from './compile.ts';
import type { Environment } from './document/env.ts';
import { readYamlTree, RULE_TESTS_DIR } from './document/files.ts';
import type { RuleSet } from './types.ts';

interface LoadRulesOptions {
  /** Every *.yaml / *.yml below it is a rule file, except those in its top-level `tests/` folder. */
  dir: string;
  plugins: PluginSpecs;
  /** Values for `${env:NAME}` references. */
  env: Environment;
}

/**
 * Reads, validates and compiles every rule file. Throws E_RULES_INVALID listing all problems, each as
 * `file:line:col: [rule id] message`; `details.problems` holds them as RuleProblem[].
 * @example const ruleSet = await loadRules({ dir: 'rules', plugins, env: process.env });
 */
export async function loadRules({ dir, plugins, env }: LoadRulesOptions): Promise<RuleSet> {
  const sources = await readYamlTree(dir, RULE_TESTS_DIR);
  if (sources === null) {
    throw new SwitchboardError('E_RULES_INVALID', `rules directory ${dir} does not exist or is not a directory`, {
      details: { problems: [] },
    });
  }
  return compileRuleSources({ sources, plugins, env });
}
