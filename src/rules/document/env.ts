/** `${env:NAME}` in any string of a file (keys included), replaced at load from the environment given. */
import { isPlainObject } from '../../plain-object.ts';
import type { NodePath } from '../../schema-issues.ts';

export const REFERENCE = /\$\{env:([^}]*)\}/g;

export type Environment = Record<string, string | undefined>;

/**
 * Returns a copy of `value` with references replaced. An unset variable is reported once, where it is first
 * written; `report` is still called with an empty message at every later use (`repeated`), so the caller can set
 * aside what holds the reference instead of reporting what the unreplaced text breaks.
 */
export function substituteEnv(value: unknown, env: Environment, report: ReportMissing): unknown {
  const reported = new Set<string>();
  const substituteString = (text: string, at: NodePath, onKey: boolean): string => {
    if (!text.includes('${env:')) return text;
    return text.replace(REFERENCE, (reference, name: string) => {
      const value = env[name];
      if (value !== undefined) return value;
      const repeated = reported.has(name);
      reported.add(name);
      report(at, `environment variable ${name} is not set (referenced as ${reference})`, onKey, repeated);
      return reference;
    });
  };
  const substitute = (value: unknown, at: NodePath): unknown => {
    if (typeof value === 'string') return substituteString(value, at, false);
    if (Array.isArray(value)) return value.map((item, index) => substitute(item, [...at, index]));
    if (!isPlainObject(value)) return value;
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      result[substituteString(key, [...at, key], true)] = substitute(item, [...at, key]);
    }
    return result;
  };
  return substitute(value, []);
}

/** A missing variable at `at`; `repeated` when it was already reported in this document. */
export type ReportMissing = (at: NodePath, message: string, onKey: boolean, repeated: boolean) => void;
