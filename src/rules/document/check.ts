/**
 * The checks every YAML file here goes through before its items are compiled: syntax, `${env:…}`, then the JSON
 * Schema. Problems are collected, never thrown, so one run reports all of them.
 */
import type { ErrorObject } from 'ajv';
import { describeSchemaErrors, formatNodePath, type NodePath } from '../../schema-issues.ts';
import type { ReportIssue } from '../problems.ts';
import type { RuleProblem } from '../types.ts';
import { substituteEnv, type Environment } from './env.ts';
import { parseSource, type ParsedSource, type RuleSource } from './source.ts';

export interface DocumentKind {
  /** The top-level key holding the list of items ("rules", "tests"). */
  listKey: string;
  /** What one item is called in messages ("rule", "test"). */
  itemName: string;
  schemaErrors(value: unknown): ErrorObject[];
  /** The rule id an item's problems are tagged with. */
  ruleIdOf?(item: unknown): string | undefined;
}

interface CheckedDocument {
  locate: ParsedSource['locate'];
  /** Reports a problem at a path of the document. */
  report: ReportIssue;
  /**
   * The items of the list, with their index; only `wellFormed` ones (per the schema) can be compiled. `written`: the
   * item before `${env:…}` substitution, which says where secrets are.
   */
  items: { item: unknown; written: unknown; index: number; wellFormed: boolean }[];
}

export function checkDocument(
  source: RuleSource,
  kind: DocumentKind,
  env: Environment,
  problems: RuleProblem[],
): CheckedDocument {
  const parsed = parseSource(source, problems);
  let data = parsed.value;
  const itemAt = (path: NodePath): unknown =>
    path[0] === kind.listKey && typeof path[1] === 'number' ? (data as Record<string, unknown[]>)[kind.listKey]?.[path[1]] : undefined;
  const report: ReportIssue = (path, message, onKey) =>
    problems.push({ ...parsed.locate(path, onKey), ruleId: kind.ruleIdOf?.(itemAt(path)), message });
  const checked: CheckedDocument = { locate: parsed.locate, report, items: [] };

  if (data === undefined) return checked; // broken YAML: parseSource said why
  // An empty file is more often a save or a deploy cut short than a wish for no rules: one that is meant to be
  // empty says so.
  if (data === null) {
    report([], `the file is empty; write "${kind.listKey}: []" if it is meant to hold no ${kind.listKey}`);
    return checked;
  }
  const written = data as Record<string, unknown[] | undefined>;
  const invalidItems = new Set<number>();
  let invalidFile = false;
  // What holds an unset variable is not compiled: its text still reads `${env:NAME}`, and the errors that would
  // cause (not a valid URL, …) only repeat the one that matters.
  const setAside = (path: NodePath) => {
    if (typeof path[1] === 'number') invalidItems.add(path[1]);
    else invalidFile = true;
  };
  data = substituteEnv(data, env, (path, message, onKey, repeated) => {
    if (!repeated) report(path, message, onKey);
    setAside(path);
  });

  for (const issue of describeSchemaErrors(kind.schemaErrors(data), (path) => describePath(path, kind.itemName))) {
    report(issue.path, issue.message, issue.onKey);
    // An unknown key leaves the item well-formed: it is still compiled, so its other problems show too.
    if (issue.onKey) continue;
    setAside(issue.path);
  }
  if (invalidFile) return checked;
  const list = (data as Record<string, unknown[] | undefined>)[kind.listKey] ?? [];
  list.forEach((item, index) => checked.items.push({ item, written: written[kind.listKey]?.[index], index, wellFormed: !invalidItems.has(index) }));
  return checked;
}

/** What a path is, for messages: "the file", "rules", "rule", "actions[0].mode". */
function describePath(path: NodePath, itemName: string): string {
  if (path.length === 0) return 'the file';
  if (path.length === 1) return formatNodePath(path);
  if (path.length === 2) return itemName;
  return formatNodePath(path.slice(2));
}
