/** Glob patterns for event names and filter values, with picomatch syntax: `*`, `?`, `[a-z]`, `{a,b}`. */
import picomatch from 'picomatch';

export type StringMatcher = (value: string) => boolean;

// `bash` lets `*` cross `/` (filter values are URLs and paths, not file paths); `nonegate` keeps a leading `!`
// literal; `strictBrackets` turns an unbalanced bracket into an error instead of a pattern that never matches.
const VALUE_OPTIONS: picomatch.PicomatchOptions = { bash: true, dot: true, nonegate: true, strictBrackets: true };
// Event names use `.` as picomatch uses `/`: it separates Switchboard's own events (`switchboard.delivery_dead`)
// from LiveKit's, and `*` stays within one part. So "*" never catches an internal event (a rule reacting to its
// own dead deliveries by surprise), "switchboard.*" catches them all, "**" catches everything.
const EVENT_OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, strictBrackets: true };

/** True when the pattern uses glob syntax (or escapes) rather than being a plain string. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('\\') || picomatch.scan(pattern, VALUE_OPTIONS).isGlob;
}

/** Compiles a filter value pattern; `*` matches any characters. A plain string matches only itself. Throws Error for an invalid glob. */
export function compileGlob(pattern: string): StringMatcher {
  if (!isGlob(pattern)) return (value) => value === pattern;
  const regex = makeRegex(pattern, pattern, VALUE_OPTIONS);
  // Most values a filter sees fail on their first characters (`tenant-12-*` against another tenant's room):
  // a value without the pattern's literal start cannot match, and is turned away before the regex runs.
  const prefix = literalStart(pattern);
  if (prefix === '') return (value) => regex.test(value);
  return (value) => value.startsWith(prefix) && regex.test(value);
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
  const regex = makeRegex(pattern, dotsAsSeparators(pattern), EVENT_OPTIONS);
  return (eventName) => regex.test(dotsAsSeparators(eventName));
}

function dotsAsSeparators(text: string): string {
  return text.replaceAll('.', '/');
}

function makeRegex(pattern: string, source: string, options: picomatch.PicomatchOptions): RegExp {
  let regex: RegExp;
  try {
    regex = picomatch.makeRe(source, options);
  } catch (error) {
    throw new Error(`invalid glob "${pattern}": ${(error as Error).message}`);
  }
  // picomatch turns a pattern it cannot express as a regex into one that never matches.
  if (regex.source === '$^') throw new Error(`invalid glob "${pattern}"`);
  return regex;
}
