/** One schema-valid rule compiled into its matcher and renderable actions. */
import jsonLogic from 'json-logic-js';
import type { EventContext } from '../../livekit/event-types.ts';
import type { ActionMode } from '../../plugins/contract.ts';
import { checkParams, pluginCheckMessages, type PluginSpec, type PluginSpecs } from '../../plugins/params.ts';
import { formatNodePath, type NodePath } from '../../schema-issues.ts';
import type { ReportIssue } from '../problems.ts';
import type { CompiledAction, CompiledRule, SourceLocation } from '../types.ts';
import { NO_SECRETS, type ActionSecrets } from './action-secrets.ts';
import { compileDeliveryOptions, type DeliveryDocument } from './delivery-options.ts';
import { compileFilter, requiredStarts } from './filter.ts';
import { compileEventGlob, type StringMatcher } from './glob.ts';
import { compileLogic } from './logic.ts';
import { compileTemplate } from './template.ts';

/** A rule as the schema admits it. */
export interface RuleDocument {
  id: string;
  description?: string;
  enabled?: boolean;
  on: string | string[];
  filter?: Record<string, unknown>;
  when?: unknown;
  actions: ActionDocument[];
}

interface ActionDocument extends DeliveryDocument {
  id?: string;
  plugin: string;
  mode?: ActionMode;
  with?: Record<string, unknown>;
}

/** A compiled rule that can also say which events it could match, for the rule set's index. */
export interface IndexedRule extends CompiledRule {
  covers(eventName: string): boolean;
  /** Filter path → the starts one of which its value must have (see requiredStarts). */
  requiredStarts: ReadonlyMap<string, readonly string[]>;
}

interface RuleCompilation {
  plugins: PluginSpecs;
  /** Each action's secrets, by its index (see actionSecrets); none when not given. */
  secrets?: readonly ActionSecrets[];
  location: SourceLocation;
  /** Paths are relative to the rule. */
  report: ReportIssue;
}

export function compileRule(rule: RuleDocument, { plugins, secrets = [], location, report }: RuleCompilation): IndexedRule {
  const on = typeof rule.on === 'string' ? [rule.on] : rule.on;
  checkActionIds(rule.actions, report);
  return {
    id: rule.id,
    description: rule.description,
    enabled: rule.enabled ?? true,
    on,
    location,
    covers: compileEventPatterns(on, report),
    requiredStarts: rule.filter === undefined ? new Map() : requiredStarts(rule.filter),
    matches: compileConditions(rule, report),
    actions: rule.actions.map((action, index) => ({
      ...compileAction(rule.id, action, index, plugins, report),
      ...(action.id !== undefined && { id: action.id }),
      secrets: secrets[index] ?? NO_SECRETS,
    })),
  };
}

function compileEventPatterns(on: string[], report: ReportIssue): (eventName: string) => boolean {
  const matchers: StringMatcher[] = [];
  on.forEach((pattern, index) => {
    try {
      matchers.push(compileEventGlob(pattern));
    } catch (error) {
      report(['on', index], (error as Error).message);
    }
  });
  return (eventName) => matchers.some((matches) => matches(eventName));
}

function compileConditions(rule: RuleDocument, report: ReportIssue): (context: EventContext) => boolean {
  const filter = rule.filter === undefined ? undefined : compileFilter(rule.filter, report, ['filter']);
  if (rule.when === null) report(['when'], 'when is empty: give a json-logic expression or remove it');
  const when = rule.when === undefined ? undefined : compileLogic(rule.when, report, ['when']);
  if (when === undefined) return filter ?? (() => true);
  return (context) => {
    if (filter !== undefined && !filter(context)) return false;
    try {
      return jsonLogic.truthy(when(context));
    } catch {
      // json-logic-js throws on a few operations given null (`in` on a missing list): the condition does not hold.
      return false;
    }
  };
}

function compileAction(
  ruleId: string,
  action: ActionDocument,
  index: number,
  plugins: PluginSpecs,
  report: ReportIssue,
): Omit<CompiledAction, 'id' | 'secrets'> {
  const params = action.with ?? {};
  const at: NodePath = ['actions', index];
  const spec = plugins.get(action.plugin);
  const template = compileTemplate(params, report, [...at, 'with'], spec === undefined ? [] : urlParams(spec));
  if (spec === undefined) {
    const known = [...plugins.keys()].sort().join(', ') || 'none';
    report([...at, 'plugin'], `unknown plugin "${action.plugin}" (known plugins: ${known})`);
  } else {
    checkPluginParams(spec, params, template.dynamicPointers, report, [...at, 'with']);
  }
  const mode = action.mode ?? (spec?.inline ? 'inline' : 'async');
  if (spec?.modes !== undefined && !spec.modes.includes(mode)) {
    report([...at, 'mode'], `plugin "${spec.name}" runs only ${spec.modes.join(' or ')}, not ${mode}`);
  }
  const modeDefaultOf = action.mode === undefined ? action.plugin : undefined;
  return {
    index,
    plugin: action.plugin,
    mode,
    ...compileDeliveryOptions(action, { mode, modeDefaultOf, report, at }),
    with: params,
    render(context) {
      try {
        return template.render(context) as Record<string, unknown>;
      } catch (error) {
        throw new RuleRenderError(ruleId, action.plugin, error);
      }
    },
  };
}

/** Queued deliveries find their action by its id: two actions of a rule cannot share one. */
function checkActionIds(actions: ActionDocument[], report: ReportIssue): void {
  const first = new Map<string, number>();
  actions.forEach((action, index) => {
    if (action.id === undefined) return;
    const earlier = first.get(action.id);
    if (earlier === undefined) first.set(action.id, index);
    else report(['actions', index, 'id'], `duplicate action id "${action.id}" (also actions[${earlier}])`);
  });
}

/** The plugin's schema first; its own `check` only sees params the schema admits (templates aside). */
function checkPluginParams(spec: PluginSpec, params: Record<string, unknown>, dynamicPointers: string[], report: ReportIssue, at: NodePath): void {
  const issues = checkParams(spec, params, (path) => formatNodePath([...at, ...path]), dynamicPointers);
  for (const issue of issues) report([...at, ...issue.path], `plugin "${spec.name}": ${issue.message}`, issue.onKey);
  if (issues.length > 0) return;
  for (const message of pluginCheckMessages(spec, params)) report(at, `plugin "${spec.name}": ${message}`);
}

/** Pointers to the plugin's params declared `format: uri`, whose templates are rendered as URLs. */
function urlParams(spec: PluginSpec): string[] {
  const properties = (spec.params as { properties?: Record<string, { format?: unknown }> }).properties ?? {};
  return Object.keys(properties)
    .filter((name) => properties[name]?.format === 'uri')
    .map((name) => `/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`);
}

export class RuleRenderError extends Error {
  readonly ruleId: string;
  readonly plugin: string;

  constructor(ruleId: string, plugin: string, cause: unknown) {
    super(`rule "${ruleId}": rendering params for plugin "${plugin}" failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'RuleRenderError';
    this.ruleId = ruleId;
    this.plugin = plugin;
  }
}
