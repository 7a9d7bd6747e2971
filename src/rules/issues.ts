/** How compilers report a problem in a value: a path inside the YAML document, and what is wrong there. */

export type NodePath = readonly (string | number)[];

/** `onKey` points the location at the key of the last path segment rather than at its value. */
export type ReportIssue = (path: NodePath, message: string, onKey?: boolean) => void;

/** For compiling values outside a rule file (tests, tools): the first issue becomes an exception. */
export const throwIssue: ReportIssue = (path, message) => {
  throw new Error(path.length === 0 ? message : `${formatNodePath(path)}: ${message}`);
};

/** `actions[0].with.key` for ['actions', 0, 'with', 'key']. */
export function formatNodePath(path: NodePath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}
