/**
 * Durations as people write them, in settings, rule files and plugin params alike: a number of seconds (`60`,
 * `2.5`), or a number with a unit (`500ms`, `5s`, `5m`, `2h`, `1d`).
 */
const UNIT_MS: Record<string, number> = { '': 1_000, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The same syntax as a JSON Schema `pattern`, for string values. */
export const DURATION_PATTERN = '^([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h|d)?$';
const DURATION = new RegExp(DURATION_PATTERN);

/** Whole milliseconds, or undefined when `value` is not a duration. */
export function parseDurationMs(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1_000) : undefined;
  const match = DURATION.exec(value.trim());
  return match ? Math.round(Number(match[1]) * UNIT_MS[match[2] ?? '']) : undefined;
}

/** Like parseDurationMs, for values a schema has already admitted. */
export function durationMs(value: number | string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  return ms;
}
