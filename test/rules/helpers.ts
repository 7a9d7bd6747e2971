/** Shared by the rule tests: plugin specs like the shipped ones, and compiling rules from strings. */
import { expect } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import type { EventContext } from '../../src/livekit/event-types.ts';
import type { PluginSpec, PluginSpecs } from '../../src/plugins/params.ts';
import { compileRuleSources } from '../../src/rules/compile.ts';
import type { Environment } from '../../src/rules/document/env.ts';
import type { ActionPreview, TestEvents } from '../../src/rules/rule-tests.ts';
import type { RuleProblem, RuleSet } from '../../src/rules/types.ts';

export const statusPlugin: PluginSpec = {
  name: 'status',
  inline: true,
  params: {
    type: 'object',
    required: ['key', 'status'],
    additionalProperties: false,
    properties: {
      key: { type: 'string', minLength: 1 },
      status: { type: 'string', minLength: 1 },
      from: { type: 'array', items: { type: 'string' } },
    },
  },
};

export const notifyPlugin: PluginSpec = {
  name: 'notify',
  inline: false,
  params: {
    type: 'object',
    required: ['url'],
    properties: {
      url: { type: 'string' },
      attempts: { type: 'integer', minimum: 1 },
      body: { type: 'object' },
    },
  },
};

export const plugins: PluginSpecs = new Map([
  [statusPlugin.name, statusPlugin],
  [notifyPlugin.name, notifyPlugin],
]);

export function compile(text: string, options: { file?: string; env?: Environment; plugins?: PluginSpecs } = {}): RuleSet {
  return compileRuleSources({
    sources: [{ file: options.file ?? 'rules.yaml', text }],
    plugins: options.plugins ?? plugins,
    env: options.env ?? {},
  });
}

/** The problems an E_RULES_INVALID carries; fails the test when nothing (or something else) is thrown. */
export function problemsOf(action: () => unknown): RuleProblem[] {
  try {
    action();
  } catch (error) {
    if (!isSwitchboardError(error, 'E_RULES_INVALID')) throw error;
    return (error.details as { problems: RuleProblem[] }).problems;
  }
  expect.fail('expected E_RULES_INVALID');
}

/** One rule on `room_started` with the given extra YAML lines (indented as rule keys), and a status action. */
export function ruleWith(lines: string, action = 'with: { key: k, status: live }'): string {
  return `rules:\n  - id: r\n    on: room_started\n${lines}    actions:\n      - plugin: status\n        ${action}\n`;
}

export function roomStarted(room: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): EventContext {
  return { event: 'room_started', room: { sid: 'RM_1', name: 'session-42', ...room }, ...extra };
}

/** Rule tests' dry run as far as the rules go: each action rendered, none prepared (the engine's is tested apart). */
export const renderActions: TestEvents['preview'] = async (rules, { context }) =>
  rules.flatMap((rule) =>
    rule.actions.map((action): ActionPreview => {
      const preview = { rule: rule.id, index: action.index, plugin: action.plugin, mode: action.mode, usage: [] };
      try {
        return { ...preview, params: action.render(context) };
      } catch (error) {
        return { ...preview, error: { code: 'E_RULE_RENDER', message: (error as Error).message } };
      }
    }),
  );
