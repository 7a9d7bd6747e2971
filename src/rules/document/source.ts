/** A YAML file parsed for validation: its plain value, and where any path inside it was written. */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { NodePath } from '../../schema-issues.ts';
import type { RuleProblem, SourceLocation } from '../types.ts';

export interface RuleSource {
  file: string;
  text: string;
}

export interface ParsedSource {
  file: string;
  /** The document as plain data; undefined when the YAML itself is broken (the problems say why). */
  value: unknown;
  /** Where the value at `path` was written (its key when `onKey`), or the nearest enclosing value that exists. */
  locate(path: NodePath, onKey?: boolean): SourceLocation;
}

/** Parses YAML; syntax errors go to `problems` with their position. */
export function parseSource(source: RuleSource, problems: RuleProblem[]): ParsedSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source.text, { lineCounter, prettyErrors: false });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: source.file, line, column: col };
  };
  const locate = (path: NodePath, onKey = false) => at(offsetOf(doc, path, onKey));

  for (const error of doc.errors) problems.push({ ...at(error.pos[0]), message: `invalid YAML: ${error.message}` });
  if (doc.errors.length > 0) return { file: source.file, value: undefined, locate };
  try {
    return { file: source.file, value: doc.toJS(), locate };
  } catch (error) {
    problems.push({ ...at(0), message: `invalid YAML: ${(error as Error).message}` });
    return { file: source.file, value: undefined, locate };
  }
}

function offsetOf(doc: Document, path: NodePath, onKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const segment = path[i];
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(segment));
      if (pair === undefined) break;
      const keyStart = rangeStart(pair.key);
      if (onKey && i === path.length - 1 && keyStart !== undefined) return keyStart;
      node = pair.value ?? pair.key;
    } else if (isSeq(node)) {
      node = node.items[Number(segment)];
    } else {
      break;
    }
    const start = rangeStart(node);
    if (start === undefined) break;
    offset = start;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null | undefined)?.range?.[0];
}
