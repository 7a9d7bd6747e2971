/**
 * Turns ajv errors into messages a user can act on, each pointing at a path in the checked value: a rule file, a
 * plugin's params, an admin API body.
 */
import type { ErrorObject } from 'ajv';

/** Where a value sits in a document: keys and list indexes from its root. */
export type NodePath = readonly (string | number)[];

/** `actions[0].with.key` for ['actions', 0, 'with', 'key']. */
export function formatNodePath(path: NodePath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}


export interface SchemaIssue {
  path: NodePath;
  message: string;
  /** Set for an unknown key: the location is the key itself, and the rest of the value is still well-formed. */
  onKey: boolean;
}

/** `name` says what a path is to the reader: "rule", "actions[0].mode", "params.key". */
export function describeSchemaErrors(errors: readonly ErrorObject[], name: (path: NodePath) => string): SchemaIssue[] {
  return errors.map((error) => describeSchemaError(error, name));
}

function describeSchemaError(error: ErrorObject, name: (path: NodePath) => string): SchemaIssue {
  const path = pointerToPath(error.instancePath);
  const subject = name(path);
  const params = error.params;
  const issue = (message: string): SchemaIssue => ({ path, message: `${subject} ${message}`, onKey: false });
  switch (error.keyword) {
    case 'additionalProperties': {
      const known = Object.keys(error.parentSchema?.properties ?? {});
      const expected = known.length > 0 ? ` (expected one of: ${known.join(', ')})` : '';
      const message = `unknown key "${params.additionalProperty}" in ${subject}${expected}`;
      return { path: [...path, params.additionalProperty], message, onKey: true };
    }
    case 'required':
      return issue(`is missing required key "${params.missingProperty}"`);
    case 'type':
      return issue(`must be ${describeTypes(params.type)}`);
    case 'enum':
      return issue(`must be one of: ${(params.allowedValues as unknown[]).join(', ')}`);
    case 'minItems':
    case 'minLength':
      return issue(params.limit === 1 ? 'must not be empty' : (error.message ?? 'is too short'));
    case 'minProperties': {
      const known = Object.keys(error.parentSchema?.properties ?? {});
      return issue(params.limit === 1 && known.length > 0 ? `needs at least one of: ${known.join(', ')}` : (error.message ?? 'has too few keys'));
    }
    case 'pattern':
      return issue(`${JSON.stringify(error.data)} ${error.parentSchema?.patternErrorMessage ?? `must match ${params.pattern}`}`);
    default:
      return issue(error.message ?? 'is invalid');
  }
}

function pointerToPath(pointer: string): NodePath {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => {
      const key = segment.replaceAll('~1', '/').replaceAll('~0', '~');
      return /^(0|[1-9]\d*)$/.test(key) ? Number(key) : key;
    });
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'null',
  array: 'a list',
  object: 'a map',
};

function describeTypes(types: string | string[]): string {
  const names = (Array.isArray(types) ? types : types.split(',')).map((type) => TYPE_NAMES[type] ?? type);
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}
