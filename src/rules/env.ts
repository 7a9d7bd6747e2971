/** `${env:NAME}` in any string of a file (keys included), replaced at load from the environment given. */
import type { NodePath, ReportIssue } from './issues.ts';
import { isPlainObject } from './plain-object.ts';

export const REFERENCE = /\$\{env:([^}]*)\}/g;

export type Environment = Record<string, string | undefined>;

/** Returns a copy of `value` with references replaced; each unset variable is reported where it was written. */
export function substituteEnv(value: unknown, env: Environment, report: ReportIssue, at: NodePath = []): unknown {
  if (typeof value === 'string') return substituteString(value, env, (message) => report(at, message));
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, env, report, [...at, index]));
  if (!isPlainObject(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const name = substituteString(key, env, (message) => report([...at, key], message, true));
    result[name] = substituteEnv(item, env, report, [...at, key]);
  }
  return result;
}

function substituteString(text: string, env: Environment, report: (message: string) => void): string {
  if (!text.includes('${env:')) return text;
  return text.replace(REFERENCE, (reference, name: string) => {
    const value = env[name];
    if (value !== undefined) return value;
    report(`environment variable ${name} is not set (referenced as ${reference})`);
    return reference;
  });
}
