/**
 * Which secrets an action sends: the `${env:NAME}` references of its `with:` as written, each with the value it had
 * at load. The engine keeps these values out of stored deliveries and puts the current ones back at each attempt.
 */
import { REFERENCE, type Environment } from '../document/env.ts';
import { isPlainObject } from '../../plain-object.ts';

/** Variable name → its value at load. */
export type ActionSecrets = ReadonlyMap<string, string>;

export const NO_SECRETS: ActionSecrets = new Map();

/** The secrets of each action of a rule as written (before substitution), by the action's index. */
export function actionSecrets(written: unknown, env: Environment): ActionSecrets[] {
  const actions = isPlainObject(written) && Array.isArray(written.actions) ? written.actions : [];
  return actions.map((action: unknown) => {
    const names = new Set<string>();
    if (isPlainObject(action)) collectReferences(action.with, names);
    if (names.size === 0) return NO_SECRETS;
    return new Map([...names].sort().flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
  });
}

function collectReferences(value: unknown, names: Set<string>): void {
  if (typeof value === 'string') {
    for (const [, name] of value.matchAll(REFERENCE)) names.add(name);
  } else if (Array.isArray(value)) {
    for (const item of value) collectReferences(item, names);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      collectReferences(key, names);
      collectReferences(item, names);
    }
  }
}
