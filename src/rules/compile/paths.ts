/** Dotted paths into an event (`room.name`, `egressInfo.fileResults.0.filename`): parsed once, read many times. */

export type PathReader = (value: unknown) => unknown;

const VALID_PATH = /^[^.\s]+(?:\.[^.\s]+)*$/;

/** The segments of a dotted path, or null when it has an empty segment or whitespace. */
export function parsePath(path: string): string[] | null {
  return VALID_PATH.test(path) ? path.split('.') : null;
}

/** Reads the value at `segments`, or undefined when any step is missing. Numeric segments index arrays. */
export function compilePath(segments: readonly string[]): PathReader {
  const steps = [...segments];
  return (value) => {
    let current = value;
    for (let i = 0; i < steps.length; i++) {
      // Own properties only, so `constructor` or `length` never reach into prototypes.
      if (current === null || typeof current !== 'object' || !Object.hasOwn(current, steps[i])) return undefined;
      current = (current as Record<string, unknown>)[steps[i]];
    }
    return current;
  };
}
