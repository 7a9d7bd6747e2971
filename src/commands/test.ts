/**
 * `switchboard test`: a dry run of the rules against one event (matched rules and rendered params, no side
 * effects), or the rule test files under <rules dir>/tests.
 */
import { readFileSync } from 'node:fs';
import { isSwitchboardError } from '../errors.ts';
import { loadRules } from '../rules/load.ts';
import { buildContext, parseEvent } from '../livekit/event.ts';
import { sampleEvent } from '../livekit/samples.ts';
import { loadPlugins } from '../plugins/registry.ts';
import { compileRuleTestSources, loadRuleTests, runRuleTests } from '../rules/rule-tests.ts';
import type { RuleSet } from '../rules/types.ts';
import { redactParams } from '../server/admin/redact.ts';

export interface TestOptions {
  /** An event file, `-` for stdin, a rule test file (.yaml/.yml), or nothing for every test under <rules>/tests. */
  input: string | undefined;
  rulesDir: string;
  pluginsDir: string;
}

export async function testRules(options: TestOptions): Promise<number> {
  try {
    const plugins = await loadPlugins(options.pluginsDir);
    const rules = await loadRules({ dir: options.rulesDir, plugins: plugins.specs(), env: process.env });
    if (options.input === undefined || /\.ya?ml$/i.test(options.input)) return runTestFiles(rules, options);
    console.log(JSON.stringify(dryRun(rules, readEvent(options.input)), null, 2));
    return 0;
  } catch (error) {
    if (!isSwitchboardError(error, 'E_RULES_INVALID') && !isSwitchboardError(error, 'E_WEBHOOK_INVALID_PAYLOAD')) throw error;
    console.error(`${error.code}: ${error.message}`);
    return 1;
  }
}

function readEvent(input: string): Buffer {
  return readFileSync(input === '-' ? 0 : input);
}

/** What the engine would do with this event, without doing any of it. */
export function dryRun(rules: RuleSet, body: Buffer) {
  const event = parseEvent(body);
  const context = buildContext(event);
  return {
    event_type: event.event,
    event_id: event.id ?? null,
    matched: rules.match(context).map((rule) => ({
      rule: rule.id,
      actions: rule.actions.map((action) => {
        try {
          return { plugin: action.plugin, mode: action.mode, params: redactParams(action.render(context)) };
        } catch (error) {
          return { plugin: action.plugin, mode: action.mode, error: (error as Error).message };
        }
      }),
    })),
  };
}

async function runTestFiles(rules: RuleSet, options: TestOptions): Promise<number> {
  const tests = options.input
    ? compileRuleTestSources({ sources: [{ file: options.input, text: readFileSync(options.input, 'utf8') }], env: process.env })
    : await loadRuleTests(options.rulesDir, { env: process.env });
  const results = runRuleTests(rules, tests, { sampleFor: (name) => sampleEvent(name), buildContext });
  for (const result of results) {
    console.log(`${result.passed ? 'PASS' : 'FAIL'} ${result.file}:${result.line} ${result.name}`);
    for (const difference of result.differences) console.log(`     ${difference}`);
  }
  const failed = results.filter((result) => !result.passed).length;
  console.log(`rule tests: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
