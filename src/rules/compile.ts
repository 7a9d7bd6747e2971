/** Rule files (already read) compiled into a RuleSet, or one E_RULES_INVALID naming every problem in all of them. */
import { actionSecrets } from './compile/action-secrets.ts';
import type { PluginSpecs } from '../plugins/params.ts';
import { compileRule, type IndexedRule, type RuleDocument } from './compile/rule.ts';
import { checkDocument, type DocumentKind } from './document/check.ts';
import type { Environment } from './document/env.ts';
import { ruleFileErrors } from './document/schema.ts';
import type { RuleSource } from './document/source.ts';
import { createRuleSet } from './match/rule-set.ts';
import { rulesInvalid } from './problems.ts';
import type { RuleProblem, RuleSet, SourceLocation } from './types.ts';

interface RuleSourcesOptions {
  /** In load order: rule order is file order, then the order within each file. */
  sources: readonly RuleSource[];
  plugins: PluginSpecs;
  env: Environment;
}

const RULE_FILE: DocumentKind = {
  listKey: 'rules',
  itemName: 'rule',
  schemaErrors: ruleFileErrors,
  ruleIdOf,
};

function ruleIdOf(rule: unknown): string | undefined {
  const id = (rule as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Compiles rule files given as text. Pure: `loadRules` reads the files, tests pass strings.
 * @example compileRuleSources({ sources: [{ file: 'a.yaml', text }], plugins, env: process.env }).match(context)
 */
export function compileRuleSources({ sources, plugins, env }: RuleSourcesOptions): RuleSet {
  const problems: RuleProblem[] = [];
  // Where each rule id was first defined, to point a duplicate at it.
  const firstDefinitions = new Map<string, SourceLocation>();
  const rules: IndexedRule[] = [];
  for (const source of sources) {
    const { items, locate, report } = checkDocument(source, RULE_FILE, env, problems);
    for (const { item, written, index, wellFormed } of items) {
      const id = ruleIdOf(item);
      if (id !== undefined) {
        const first = firstDefinitions.get(id);
        if (first === undefined) firstDefinitions.set(id, locate(['rules', index, 'id']));
        else report(['rules', index, 'id'], `duplicate rule id "${id}" (first defined at ${first.file}:${first.line})`);
      }
      if (!wellFormed) continue;
      const rule = compileRule(item as RuleDocument, {
        plugins,
        secrets: actionSecrets(written as RuleDocument, env),
        location: locate(['rules', index]),
        report: (path, message, onKey) => report(['rules', index, ...path], message, onKey),
      });
      rules.push(rule);
    }
  }
  if (problems.length > 0) throw rulesInvalid(problems);
  return createRuleSet(rules);
}
