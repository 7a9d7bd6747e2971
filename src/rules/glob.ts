/** Glob patterns for event names and filter values, with picomatch syntax: `*`, `?`, `[a-z]`, `{a,b}`. */
import picomatch from 'picomatch';

export type StringMatcher = (value: string) => boolean;

// `bash` lets `*` cross `/` (filter values are URLs and paths, not file paths); `nonegate` keeps a leading `!`
// literal; `strictBrackets` turns an unbalanced bracket into an error instead of a pattern that never matches.
const OPTIONS: picomatch.PicomatchOptions = { bash: true, dot: true, nonegate: true, strictBrackets: true };

/** True when the pattern uses glob syntax (or escapes) rather than being a plain string. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('\\') || picomatch.scan(pattern, OPTIONS).isGlob;
}

/** Compiles a pattern into a matcher; a plain string matches only itself. Throws Error for an invalid glob. */
export function compileGlob(pattern: string): StringMatcher {
  if (!isGlob(pattern)) return (value) => value === pattern;
  let regex: RegExp;
  try {
    regex = picomatch.makeRe(pattern, OPTIONS);
  } catch (error) {
    throw new Error(`invalid glob "${pattern}": ${(error as Error).message}`);
  }
  // picomatch turns a pattern it cannot express as a regex into one that never matches.
  if (regex.source === '$^') throw new Error(`invalid glob "${pattern}"`);
  return (value) => regex.test(value);
}
