/** True for `{}`-style objects (what YAML and JSON produce), false for arrays, class instances and null. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * True when arrays and objects in `value` nest more than `max` levels deep. Walks with a stack of its own, not by
 * recursion: the values come from end users, and JSON.stringify (recursive) overflows the call stack on a few
 * thousand levels that JSON.parse accepts.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= max) return true;
    for (const inner of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof inner === 'object' && inner !== null) pending.push([inner, depth + 1]);
    }
  }
  return false;
}
