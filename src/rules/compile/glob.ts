/** Glob patterns for event names and filter values, with picomatch syntax: `*`, `?`, `[a-z]`, `{a,b}`. */
import picomatch from 'picomatch';
import { compileAutomaton, type GlobSyntax } from './glob-automaton.ts';

export type StringMatcher = (value: string) => boolean;

// Picomatch only reads patterns here (is it a glob, where does its literal start): its regexes backtrack, so
// matching is glob-automaton's, linear in the value. A leading `!` stays literal.
const VALUE_OPTIONS: picomatch.PicomatchOptions = { bash: true, dot: true, nonegate: true, strictBrackets: true };
// `*` crosses `/` in values: filter values are URLs and paths, not file paths.
const VALUE_SYNTAX: GlobSyntax = { separator: '/', starCrossesSeparator: true };
// Event names use `.` as picomatch uses `/`: it separates Switchboard's own events (`switchboard.delivery_dead`)
// from LiveKit's, and `*` stays within one part. So "*" never catches an internal event (a rule reacting to its
// own dead deliveries by surprise), "switchboard.*" catches them all, "**" catches everything.
const EVENT_SYNTAX: GlobSyntax = { separator: '.', starCrossesSeparator: false };

/** True when the pattern uses glob syntax (or escapes) rather than being a plain string. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('\\') || picomatch.scan(pattern, VALUE_OPTIONS).isGlob;
}

/** Compiles a filter value pattern; `*` matches any characters. A plain string matches only itself. Throws Error for an invalid glob. */
export function compileGlob(pattern: string): StringMatcher {
  if (!isGlob(pattern)) return (value) => value === pattern;
  const prefixOnly = prefixStar(pattern, VALUE_SYNTAX);
  if (prefixOnly !== undefined) return prefixOnly;
  const matches = compile(pattern, VALUE_SYNTAX);
  // Most values a filter sees fail on their first characters (`tenant-12-*` against another tenant's room):
  // a value without the pattern's literal start cannot match, and is turned away before the automaton runs.
  const prefix = literalStart(pattern);
  if (prefix === '') return matches;
  return (value) => value.startsWith(prefix) && matches(value);
}

/** What every value a filter pattern matches starts with: a plain string whole, a glob up to its first special character. */
export function literalStart(pattern: string): string {
  return isGlob(pattern) ? LITERAL_START.exec(pattern)![0] : pattern;
}

// Characters that are literal wherever they stand in a picomatch pattern (unlike `.`, `/`, `!` or `+`, which some
// positions give a meaning).
const LITERAL_START = /^[A-Za-z0-9_-]*/;

/** Compiles an `on:` pattern, where `*` does not cross a `.`. A plain name matches only itself. Throws Error for an invalid glob. */
export function compileEventGlob(pattern: string): StringMatcher {
  if (!isGlob(pattern)) return (eventName) => eventName === pattern;
  return prefixStar(pattern, EVENT_SYNTAX) ?? compile(pattern, EVENT_SYNTAX);
}

// What a value's `*` does not match, as a regex's `.` does not.
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

/**
 * The commonest glob, a literal start then one `*` (`tenant-12-*`, `participant_*`), as a prefix test: it needs no
 * automaton, and rules hold many of them, each tried against most events. Undefined for any other pattern.
 */
function prefixStar(pattern: string, syntax: GlobSyntax): StringMatcher | undefined {
  const prefix = LITERAL_START.exec(pattern)![0];
  if (pattern.length !== prefix.length + 1 || !pattern.endsWith('*')) return undefined;
  // As in the automaton: a `*` that crosses the separator stops at a line terminator, one that does not stops at the separator.
  if (syntax.starCrossesSeparator) return (value) => value !== '' && value.startsWith(prefix) && !LINE_TERMINATOR.test(value);
  const separator = syntax.separator;
  return (value) => value !== '' && value.startsWith(prefix) && !value.includes(separator, prefix.length);
}

function compile(pattern: string, syntax: GlobSyntax): StringMatcher {
  try {
    return compileAutomaton(pattern, syntax);
  } catch (error) {
    throw new Error(`invalid glob "${pattern}": ${(error as Error).message}`);
  }
}
