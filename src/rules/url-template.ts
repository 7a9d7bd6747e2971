/**
 * Values interpolated into a URL template are data, never URL syntax: each is percent-encoded for the part of the
 * URL it lands in, so it cannot add a path segment, a `..`, a query parameter or a fragment, nor change the host.
 */

type Encoder = (value: string) => string;

/**
 * One encoder per placeholder, the placeholders standing between `literals` (as many as placeholders plus one).
 * The part a placeholder lands in follows from the literal text before it alone: encoded values hold no `/?#`.
 */
export function urlEncoders(literals: readonly string[]): Encoder[] {
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
