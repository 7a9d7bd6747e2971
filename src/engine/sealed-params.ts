/**
 * A delivery's params are stored without the secrets of its action (its `${env:…}` values: partner tokens, signing
 * secrets, provider keys): each is stored as a placeholder, `${env:NAME}`, and every attempt puts back the value the
 * action in force has then, so the database never holds a secret and a rotated one reaches queued and dead
 * deliveries too. Every `$` of a sealed string is doubled, so event data that reads like a placeholder stays text.
 *
 * The action is found by its key, a stable identity, never by its position alone: after rules are edited or
 * reordered a secret goes to no target but the one it was written for. A delivery whose action cannot be found with
 * certainty fails with E_RULE_GONE. A delivery without a key (no secrets, or queued before keys existed, whose
 * params still hold their secrets) is sent as stored.
 */
import { createHash } from 'node:crypto';
import { PermanentError } from '../plugins/contract.ts';
import type { LoadedPlugin, PluginRegistry } from '../plugins/registry.ts';
import { targetName } from '../redaction.ts';
import { isPlainObject } from '../plain-object.ts';
import type { CompiledAction, RuleSet } from '../rules/types.ts';
import type { Delivery } from '../store/store.ts';

/** What an action's deliveries are stored with: its key, and how its secrets are found in params. */
interface Sealing {
  key: string;
  /** Each secret's value, `$` doubled as in a sealed string, longest first; one pass finds them all. */
  values: RegExp | null;
  names: ReadonlyMap<string, string>;
}

const sealings = new WeakMap<CompiledAction, Sealing>();

/** The params to store for `action`, and the key to find the action by; no key when it has no secrets. */
export function sealParams(
  action: CompiledAction,
  plugin: LoadedPlugin,
  params: Record<string, unknown>,
): { params: Record<string, unknown>; actionKey?: string } {
  if (action.secrets.size === 0) return { params };
  const sealing = sealingOf(action, plugin);
  const seal = (text: string) => {
    const escaped = text.replaceAll('$', () => '$$');
    return sealing.values === null ? escaped : escaped.replace(sealing.values, (value) => `\${env:${sealing.names.get(value)}}`);
  };
  return { params: mapStrings(params, seal) as Record<string, unknown>, actionKey: sealing.key };
}

/**
 * The params to send for `delivery`: as stored when it has no key, else with the secrets of its action as the rules
 * in force have it. Throws E_RULE_GONE, a permanent failure, when that action cannot be found with certainty.
 */
export function unsealedParams(delivery: Delivery, rules: RuleSet, plugins: PluginRegistry): Record<string, unknown> {
  if (delivery.actionKey === undefined) return delivery.params;
  const action = actionFor(delivery, delivery.actionKey, rules, plugins);
  const unseal = (text: string) =>
    text.replace(/\$\$|\$\{env:([^}]*)\}/g, (match, name: string | undefined) => {
      if (name === undefined) return '$';
      const value = action.secrets.get(name);
      if (value === undefined) throw ruleGone(delivery, `its action no longer uses \${env:${name}}`);
      return value;
    });
  return mapStrings(delivery.params, unseal) as Record<string, unknown>;
}

function actionFor(delivery: Delivery, key: string, rules: RuleSet, plugins: PluginRegistry): CompiledAction {
  const found = actionsByIdentity(rules, plugins).get(`${delivery.ruleId}\n${identityOf(key)}`);
  if (found === undefined) {
    if (!rules.rules.some((rule) => rule.id === delivery.ruleId)) throw ruleGone(delivery, `rule "${delivery.ruleId}" is no longer loaded`);
    throw ruleGone(delivery, `no action of rule "${delivery.ruleId}" is ${describeKey(key)} any more`);
  }
  if (found === null) throw ruleGone(delivery, `more than one action of rule "${delivery.ruleId}" is ${describeKey(key)}; give each an id`);
  const plugin = plugins.get(found.plugin);
  if (plugin === undefined || sealingOf(found, plugin).key !== key) {
    throw ruleGone(delivery, `action "${found.id}" of rule "${delivery.ruleId}" now calls another plugin or target`);
  }
  return found;
}

function ruleGone(delivery: Delivery, reason: string): PermanentError {
  return new PermanentError(`the action of delivery ${delivery.id} cannot be found with certainty: ${reason}`, { code: 'E_RULE_GONE' });
}

/** An action with an id is found by it; without one, by its fingerprint. The part after `@` must match too. */
function identityOf(key: string): string {
  const at = key.indexOf('@');
  return at === -1 ? key : key.slice(0, at);
}

function describeKey(key: string): string {
  const identity = identityOf(key);
  return identity.startsWith('id:') ? `"${identity.slice(3)}"` : 'the same plugin with the same target and secrets';
}

const identities = new WeakMap<RuleSet, Map<string, CompiledAction | null>>();

/** Rule id and identity → the action (null when several share it), built once per rule set. */
function actionsByIdentity(rules: RuleSet, plugins: PluginRegistry): Map<string, CompiledAction | null> {
  let byIdentity = identities.get(rules);
  if (byIdentity !== undefined) return byIdentity;
  byIdentity = new Map();
  for (const rule of rules.rules) {
    for (const action of rule.actions) {
      const plugin = plugins.get(action.plugin);
      if (plugin === undefined || (action.id === undefined && action.secrets.size === 0)) continue;
      const identity = `${rule.id}\n${identityOf(sealingOf(action, plugin).key)}`;
      byIdentity.set(identity, byIdentity.has(identity) ? null : action);
    }
  }
  identities.set(rules, byIdentity);
  return byIdentity;
}

/**
 * `id:<id>@<plugin and target>` for an action with an id, else `fp:<plugin, target and secret names>`: the target
 * is the one the action's `with:` names as written (templates unrendered), the same at enqueue and at each attempt.
 */
function sealingOf(action: CompiledAction, plugin: LoadedPlugin): Sealing {
  let sealing = sealings.get(action);
  if (sealing !== undefined) return sealing;
  const target = writtenTarget(action, plugin);
  const names = [...action.secrets.keys()];
  const key = action.id === undefined ? `fp:${digest([action.plugin, target, ...names])}` : `id:${action.id}@${digest([action.plugin, target])}`;
  const byValue = new Map<string, string>();
  for (const [name, value] of action.secrets) if (value !== '') byValue.set(value.replaceAll('$', () => '$$'), name);
  const values = [...byValue.keys()].sort((a, b) => b.length - a.length).map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  sealing = { key, values: values.length === 0 ? null : new RegExp(values.join('|'), 'g'), names: byValue };
  sealings.set(action, sealing);
  return sealing;
}

function writtenTarget(action: CompiledAction, plugin: LoadedPlugin): string {
  try {
    return targetName(plugin.definition.target?.(action.with) ?? action.plugin);
  } catch {
    // A plugin whose target needs its prepared params: its plugin and secret names identify it.
    return action.plugin;
  }
}

function digest(parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/** A copy of a JSON value with every string, keys included, mapped. */
function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, map));
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [map(key), mapStrings(item, map)]));
}
