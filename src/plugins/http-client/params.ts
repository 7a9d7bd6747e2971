/** What every plugin that calls a web service (http, billing) takes and sends the same way. */
import { DURATION_PATTERN, durationMs } from '../../duration.ts';

export const USER_AGENT = 'livekit-switchboard';
/** An HTTP header name (RFC 9110 token). */
export const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
export const DEFAULT_TIMEOUT = '15s';

/** The `timeout` param's schema. */
export const TIMEOUT_PARAM = {
  type: ['number', 'string'],
  exclusiveMinimum: 0,
  pattern: DURATION_PATTERN,
  description: 'Per attempt: seconds, or "500ms", "10s", "2m". Default 15s.',
};

/** The `timeout` param in milliseconds, the default when it is not given. */
export function timeoutMs(timeout: string | number | undefined): number {
  return durationMs(timeout ?? DEFAULT_TIMEOUT);
}

export function checkTimeout(timeout: unknown): string[] {
  // A number must be positive by the schema; a string such as "0s" passes the pattern.
  return typeof timeout === 'string' && durationMs(timeout) === 0 ? ['timeout must be longer than 0'] : [];
}
