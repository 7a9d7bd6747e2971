/** What every plugin that calls a web service (http, billing) takes and sends the same way. */
import { DURATION_PATTERN, durationMs } from '../../duration.ts';

export const USER_AGENT = 'livekit-switchboard';
/** An HTTP header name (RFC 9110 token). */
export const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/**
 * Headers (lower case) a plugin calling a web service writes itself, each with why: a rule's `headers:` setting one
 * would be silently overridden, so the plugin's `check` refuses it.
 */
export const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'it follows the body and its encoding',
  'content-length': 'it follows the body',
  'transfer-encoding': 'it follows the body',
  connection: 'the connection is managed by the plugin',
  host: 'it follows the url',
  'user-agent': `it is always ${USER_AGENT}`,
  'idempotency-key': 'it is the delivery’s idempotency key',
};

/** The `timeout` param's schema. */
export const TIMEOUT_PARAM = {
  type: ['number', 'string'],
  exclusiveMinimum: 0,
  pattern: DURATION_PATTERN,
  description:
    'The request\'s own deadline: seconds, or "500ms", "10s", "2m". Without it the attempt\'s deadline (ACTION_TIMEOUT or the action\'s timeout:) bounds the request.',
};

/** The `timeout` param in milliseconds; undefined without one, when only the engine's deadline (`ctx.signal`) applies. */
export function timeoutMs(timeout: string | number | undefined): number | undefined {
  return timeout === undefined ? undefined : durationMs(timeout);
}

export function checkTimeout(timeout: unknown): string[] {
  // A number must be positive by the schema; a string such as "0s" passes the pattern.
  return typeof timeout === 'string' && durationMs(timeout) === 0 ? ['timeout must be longer than 0'] : [];
}
