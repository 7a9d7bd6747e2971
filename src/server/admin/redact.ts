/**
 * Action params can hold credentials (an http action's headers and signing secret, a billing provider's key, a token
 * in a URL's query): the admin API and `switchboard test` show params with those values replaced, so reading the
 * queue or a dry run never hands out a secret.
 */
import { REDACTED, redactUrls } from '../../redaction.ts';

export { REDACTED };

const SECRET_KEY = /(secret|token|password|authorization|apikey|api_key)/i;

export function redactParams(value: unknown, key = ''): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== null && typeof value !== 'object') return REDACTED;
  if (typeof value === 'string') return redactUrls(value);
  if (Array.isArray(value)) return value.map((item) => redactParams(item, key));
  if (value === null || typeof value !== 'object') return value;
  // Header values are credentials more often than not (Authorization, X-Api-Key, a partner's token).
  const headers = key.toLowerCase() === 'headers';
  // fromEntries defines each key as it is: assigning `__proto__` would set the prototype and lose the key.
  return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, headers ? REDACTED : redactParams(inner, name)]));
}

/** An attempt's error as shown: recorded before URLs in messages were redacted, it may quote one whole. */
export function redactError<E extends { message: string }>(error: E | null | undefined): E | null {
  return error ? { ...error, message: redactUrls(error.message) } : null;
}
