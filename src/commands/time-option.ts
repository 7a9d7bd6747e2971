/** The time options (`usage --from/--to`): a time as ISO 8601, or how long ago as `30m`, `2h`, `7d`. */
import { parseDurationMs } from '../duration.ts';

/** A duration needs its unit here: a bare number is more likely a year than seconds. */
const RELATIVE = /^\d+(?:\.\d+)?(?:ms|s|m|h|d)$/;

/** An ISO 8601 time; anything but a relative time is passed on as it is, for the admin API to accept or refuse. */
export function timeOption(value: string, now: number = Date.now()): string {
  const ago = RELATIVE.test(value.trim()) ? parseDurationMs(value) : undefined;
  return ago === undefined ? value : new Date(now - ago).toISOString();
}
