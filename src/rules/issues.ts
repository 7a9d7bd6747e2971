/** How compilers report a problem in a value: a path inside the YAML document, and what is wrong there. */
import { formatNodePath, type NodePath } from '../schema-issues.ts';

/** `onKey` points the location at the key of the last path segment rather than at its value. */
export type ReportIssue = (path: NodePath, message: string, onKey?: boolean) => void;

/** For compiling values outside a rule file (tests, tools): the first issue becomes an exception. */
export const throwIssue: ReportIssue = (path, message) => {
  throw new Error(path.length === 0 ? message : `${formatNodePath(path)}: ${message}`);
};
