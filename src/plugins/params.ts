/**
 * What the rule loader and the engine know of a plugin (its PluginSpec), and how they check an action's params:
 * against the plugin's JSON Schema (at load for what is static, at run time once rendered) and its load-time `check`.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { SwitchboardError } from '../errors.ts';
import { describeSchemaErrors, formatNodePath, type NodePath, type SchemaIssue } from '../schema-issues.ts';
import type { ActionMode, JsonSchema } from './contract.ts';

/** What the rule loader needs to know of a plugin: its params schema and default mode. */
export interface PluginSpec {
  name: string;
  params: JsonSchema;
  inline: boolean;
  /** The modes the plugin can run in; undefined: both. */
  modes?: readonly ActionMode[];
  /** The plugin's own load-time check of an action's `with:` as written; one message per problem. */
  check?(params: Record<string, unknown>): string[];
}

export type PluginSpecs = ReadonlyMap<string, PluginSpec>;

// Plugin schemas are their authors'; there is no ajv-formats here, so unknown formats and keywords are ignored
// rather than making the plugin unusable.
const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: false, logger: false });
const validators = new WeakMap<JsonSchema, ValidateFunction>();

/** The compiled validator of a plugin's params schema, compiled once per schema object. */
export function paramsValidator(spec: PluginSpec): ValidateFunction {
  let validate = validators.get(spec.params);
  if (validate === undefined) {
    try {
      validate = ajv.compile(spec.params);
    } catch (error) {
      throw new SwitchboardError('E_PLUGIN_INVALID', `plugin "${spec.name}" has an invalid params schema: ${(error as Error).message}`, { cause: error });
    }
    validators.set(spec.params, validate);
  }
  return validate;
}

/**
 * Problems with `params` under the plugin's schema, leaving out those at or under `dynamicPointers` (JSON
 * pointers to values a template fills in at run time). `name` labels a path inside the params for messages.
 */
export function checkParams(
  spec: PluginSpec,
  params: unknown,
  name: (path: NodePath) => string,
  dynamicPointers: readonly string[] = [],
): SchemaIssue[] {
  const validate = paramsValidator(spec);
  if (validate(params)) return [];
  const errors = (validate.errors ?? []).filter(
    (error) => !dynamicPointers.some((pointer) => error.instancePath === pointer || error.instancePath.startsWith(`${pointer}/`)),
  );
  return describeSchemaErrors(errors, name);
}

/** For the engine after render: a readable message when the params break the plugin's schema, else null. */
export function validateRenderedParams(spec: PluginSpec, params: unknown): string | null {
  const issues = checkParams(spec, params, (path) => formatNodePath(['params', ...path]));
  return issues.length === 0 ? null : `invalid params for plugin "${spec.name}": ${issues.map((issue) => issue.message).join('; ')}`;
}

/**
 * The messages of the plugin's own `check` of `with:` as written. A check that throws or returns something else
 * than a list gives a message too: a faulty plugin must not take the loader down.
 */
export function pluginCheckMessages(spec: PluginSpec, params: Record<string, unknown>): string[] {
  if (spec.check === undefined) return [];
  try {
    // A copy: whatever the check does to it cannot change the action.
    const messages: unknown = spec.check(structuredClone(params));
    if (!Array.isArray(messages)) return [`check returned ${messages === null ? 'null' : typeof messages} instead of a list of messages`];
    return messages.map(String);
  } catch (error) {
    return [`check failed: ${error instanceof Error ? error.message : String(error)}`];
  }
}
