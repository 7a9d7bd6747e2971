/**
 * `switchboard test`: a dry run of the rules against one event (matched rules, rendered params, what each plugin's
 * `prepare` makes of them and the usage it would record; no side effects), or the rule test files under
 * <rules dir>/tests. Params are shown with credentials hidden, as the admin API shows them.
 */
import { readFileSync } from 'node:fs';
import { previewActions, type DryRunOptions } from '../engine/dry-run.ts';
import { isSwitchboardError } from '../errors.ts';
import type { Environment } from '../rules/document/env.ts';
import { loadRules } from '../rules/load.ts';
import { buildContext, dedupeKey, parseEvent } from '../livekit/event.ts';
import { sampleEvent } from '../livekit/samples.ts';
import { loadPlugins } from '../plugins/registry.ts';
import { compileRuleTestSources, loadRuleTests, runRuleTests, type ActionPreview } from '../rules/rule-tests.ts';
import type { RuleSet } from '../rules/types.ts';
import { redactParams } from '../server/admin/redact.ts';
import { createLogger } from '../telemetry/logger.ts';

interface TestOptions {
  /** An event file, `-` for stdin, a rule test file (.yaml/.yml), or nothing for every test under <rules>/tests. */
  input: string | undefined;
  rulesDir: string;
  pluginsDir: string;
  /** What `${env:NAME}` reads (src/config.ts `ruleEnvironment`). */
  env: Environment;
  /** The deadline of each plugin's `prepare` (INLINE_ACTION_TIMEOUT). */
  prepareTimeoutMs: number;
}

export async function testRules(options: TestOptions): Promise<number> {
  try {
    const plugins = await loadPlugins(options.pluginsDir);
    const rules = await loadRules({ dir: options.rulesDir, plugins: plugins.specs(), env: options.env });
    // What a plugin logs while it prepares goes to stderr, apart from the results.
    const log = createLogger({ level: 'warn', destination: process.stderr });
    const dryRun: DryRunOptions = { plugins, prepareTimeoutMs: options.prepareTimeoutMs, log };
    if (options.input === undefined || /\.ya?ml$/i.test(options.input)) return await runTestFiles(rules, dryRun, options);
    console.log(JSON.stringify(await dryRunEvent(rules, readEvent(options.input), dryRun), null, 2));
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
async function dryRunEvent(rules: RuleSet, body: Buffer, options: DryRunOptions) {
  const event = parseEvent(body);
  const context = buildContext(event);
  const matched = rules.match(context);
  const actions = await previewActions(matched, { event, eventId: dedupeKey(event, body), context }, options);
  return {
    event_type: event.event,
    event_id: event.id ?? null,
    matched: matched.map((rule) => ({ rule: rule.id, actions: actions.filter((action) => action.rule === rule.id).map(actionView) })),
  };
}

/** An action as the dry run prints it: `prepared` and `usage` for a plugin that prepares its params. */
function actionView({ plugin, mode, params, prepared, usage, error }: ActionPreview) {
  return {
    plugin,
    mode,
    ...(params && { params: redactParams(params) }),
    ...(prepared && { prepared: redactParams(prepared), usage }),
    ...(error && { error }),
  };
}

async function runTestFiles(rules: RuleSet, dryRun: DryRunOptions, options: TestOptions): Promise<number> {
  const tests = options.input
    ? compileRuleTestSources({ sources: [{ file: options.input, text: readFileSync(options.input, 'utf8') }], env: options.env })
    : await loadRuleTests(options.rulesDir, { env: options.env });
  const results = await runRuleTests(rules, tests, {
    sampleFor: (name, at) => sampleEvent(name, at),
    buildContext,
    preview: (matched, event) => previewActions(matched, event, dryRun),
    showParams: redactParams,
  });
  for (const result of results) {
    console.log(`${result.passed ? 'PASS' : 'FAIL'} ${result.file}:${result.line} ${result.name}`);
    for (const difference of result.differences) console.log(`     ${difference}`);
  }
  const failed = results.filter((result) => !result.passed).length;
  console.log(`rule tests: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
