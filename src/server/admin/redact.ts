/**
 * Action params can hold credentials (an http action's headers and signing secret, a billing provider's key, a token
 * in a URL's query): the admin API and `switchboard test` show params with those values replaced, so reading the
 * queue or a dry run never hands out a secret.
 */
import { REDACTED, redactUrls } from '../../redaction.ts';

export { REDACTED };

const SECRET_KEY = /(secret|token|password|authorization|apikey|api_key)/i;

/**
 * How deep a value the admin views show. Params are stored at most ACTION_PARAMS_MAX_DEPTH deep, but rows written
 * before that check, and event bodies, may nest deeper: past this depth a param is shown as TOO_DEEP, so that
 * neither this walk nor the response's serialisation (JSON.stringify recurses) overflows the call stack.
 */
export const VIEW_MAX_DEPTH = 100;
export const TOO_DEEP = '[nested too deep]';

export function redactParams(value: unknown, key = '', depth = 0): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== null && typeof value !== 'object') return REDACTED;
  if (typeof value === 'string') return redactUrls(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= VIEW_MAX_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((item) => redactParams(item, key, depth + 1));
  // Header values are credentials more often than not (Authorization, X-Api-Key, a partner's token).
  const headers = key.toLowerCase() === 'headers';
  // fromEntries defines each key as it is: assigning `__proto__` would set the prototype and lose the key.
  return Object.fromEntries(
    Object.entries(value).map(([name, inner]) => [name, headers ? REDACTED : redactParams(inner, name, depth + 1)]),
  );
}

/** An attempt's error as shown: recorded before URLs in messages were redacted, it may quote one whole. */
export function redactError<E extends { message: string }>(error: E | null | undefined): E | null {
  return error ? { ...error, message: redactUrls(error.message) } : null;
}
