/**
 * Templates in an action's `with:`, compiled once at load so rendering is a call per value:
 * "{{ path }}" alone keeps the value's type, "a {{ path }} b" interpolates, { $logic: … } computes a value.
 * Values interpolated into a URL are data, never URL syntax: each is percent-encoded for the part of the URL it
 * lands in, so it cannot add a path segment, a `..`, a query parameter or a fragment, nor change the host.
 */
import type { EventContext } from '../../livekit/event-types.ts';
import { isPlainObject } from '../../plain-object.ts';
import type { NodePath } from '../../schema-issues.ts';
import { throwIssue, type ReportIssue } from '../problems.ts';
import { compileLogic } from './logic.ts';
import { compilePath, parsePath, type PathReader } from './paths.ts';

/** Returns undefined when a whole-value template names a missing path: the caller omits the value. */
type Renderer = (context: EventContext) => unknown;

interface CompiledTemplate {
  render: Renderer;
  /**
   * JSON pointers (relative to the template, "" for the whole of it) to values known only once rendered. Schema
   * checks at load must not judge what is at or under them.
   */
  dynamicPointers: string[];
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE_VALUE = /^\{\{\s*([^{}]*?)\s*\}\}$/;
const LOGIC_KEY = '$logic';

/** True for a string with a placeholder or a `{ $logic }` object: a value that cannot be checked before render. */
function isDynamic(value: unknown): boolean {
  return typeof value === 'string' ? value.includes('{{') : isPlainObject(value) && Object.hasOwn(value, LOGIC_KEY);
}

/** `urlPointers`: JSON pointers to the strings that are URLs (a plugin param with `format: uri`). */
export function compileTemplate(
  value: unknown,
  report: ReportIssue = throwIssue,
  at: NodePath = [],
  urlPointers: readonly string[] = [],
): CompiledTemplate {
  const dynamicPointers: string[] = [];
  const render = compileValue(value, at, '', { report, dynamicPointers, urlPointers });
  return { render, dynamicPointers };
}

interface Compilation {
  report: ReportIssue;
  dynamicPointers: string[];
  urlPointers: readonly string[];
}

function compileValue(value: unknown, at: NodePath, pointer: string, compilation: Compilation): Renderer {
  if (isDynamic(value)) compilation.dynamicPointers.push(pointer);
  if (typeof value === 'string') return compileString(value, at, compilation.report, compilation.urlPointers.includes(pointer));
  if (Array.isArray(value)) {
    const items = value.map((item, index) => compileValue(item, [...at, index], `${pointer}/${index}`, compilation));
    return (context) => {
      const rendered: unknown[] = [];
      for (const item of items) {
        const result = item(context);
        if (result !== undefined) rendered.push(result);
      }
      return rendered;
    };
  }
  if (isPlainObject(value)) {
    if (Object.hasOwn(value, LOGIC_KEY)) return compileLogicValue(value, at, compilation.report);
    const entries = Object.entries(value).map(
      ([key, item]) => [key, compileValue(item, [...at, key], `${pointer}/${escapePointer(key)}`, compilation)] as const,
    );
    return (context) => {
      const rendered: Record<string, unknown> = {};
      for (const [key, item] of entries) {
        const result = item(context);
        if (result !== undefined) rendered[key] = result;
      }
      return rendered;
    };
  }
  return () => value;
}

function compileLogicValue(value: Record<string, unknown>, at: NodePath, report: ReportIssue): Renderer {
  const extra = Object.keys(value).find((key) => key !== LOGIC_KEY);
  if (extra !== undefined) report([...at, extra], `"${LOGIC_KEY}" must be the only key of its object; found "${extra}"`, true);
  return compileLogic(value[LOGIC_KEY], report, [...at, LOGIC_KEY]);
}

function compileString(text: string, at: NodePath, report: ReportIssue, isUrl: boolean): Renderer {
  if (!text.includes('{{')) return () => text;
  const whole = isUrl ? null : WHOLE_VALUE.exec(text);
  if (whole) return compilePlaceholder(whole[1], at, report);

  const literals: string[] = [];
  const readers: PathReader[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    literals.push(text.slice(last, match.index));
    readers.push(compilePlaceholder(match[1], at, report));
    last = match.index + match[0].length;
  }
  literals.push(text.slice(last));
  if (literals.some((literal) => literal.includes('{{'))) report(at, `unclosed "{{" in template "${text}"`);
  const encoders = isUrl ? urlEncoders(literals) : readers.map(() => String);
  return (context) => {
    let rendered = literals[0];
    for (let i = 0; i < readers.length; i++) rendered += encoders[i](interpolate(readers[i](context))) + literals[i + 1];
    return rendered;
  };
}

function compilePlaceholder(path: string, at: NodePath, report: ReportIssue): PathReader {
  const segments = parsePath(path);
  if (segments === null) {
    report(at, `invalid path "{{ ${path} }}": use dotted names such as room.name`);
    return () => undefined;
  }
  return compilePath(segments);
}

function interpolate(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

type Encoder = (value: string) => string;

/**
 * One encoder per placeholder, the placeholders standing between `literals` (as many as placeholders plus one).
 * The part a placeholder lands in follows from the literal text before it alone: encoded values hold no `/?#`.
 */
function urlEncoders(literals: readonly string[]): Encoder[] {
  const encoders: Encoder[] = [];
  let before = '';
  for (let i = 0; i < literals.length - 1; i++) {
    before += literals[i];
    encoders.push(inPath(before) ? encodePathValue : encodeURIComponent);
  }
  return encoders;
}

/** True once the authority has ended and neither a query nor a fragment has begun. */
function inPath(before: string): boolean {
  const authority = before.indexOf('//');
  if (authority === -1 || /[?#]/.test(before)) return false;
  return before.slice(authority + 2).includes('/');
}

/**
 * URL parsing treats `.`, `..` and their encodings (`%2e`) as moves between segments, whatever their spelling:
 * a value made of them alone cannot be written into a path safely, so rendering fails instead.
 */
function encodePathValue(value: string): string {
  if (value === '.' || value === '..') throw new Error(`the value "${value}" cannot stand in a URL path`);
  return encodeURIComponent(value);
}
