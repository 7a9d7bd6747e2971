/**
 * Action params can hold credentials (an http action's headers and signing secret, a billing provider's key, a token
 * in a URL's query): the admin API and `switchboard test` show params with those values replaced, so reading the
 * queue or a dry run never hands out a secret.
 */
const SECRET_KEY = /(secret|token|password|authorization|apikey|api_key)/i;
export const REDACTED = '[redacted]';

export function redactParams(value: unknown, key = ''): unknown {
  if (key !== '' && SECRET_KEY.test(key) && value !== null && typeof value !== 'object') return REDACTED;
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map((item) => redactParams(item, key));
  if (value === null || typeof value !== 'object') return value;
  // Header values are credentials more often than not (Authorization, X-Api-Key, a partner's token).
  const headers = key.toLowerCase() === 'headers';
  // fromEntries defines each key as it is: assigning `__proto__` would set the prototype and lose the key.
  return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, headers ? REDACTED : redactParams(inner, name)]));
}

/** An http(s) URL without its user and password, and with every query value hidden; any other text as it is. */
function redactUrl(text: string): string {
  if (!/^https?:\/\//i.test(text) || !URL.canParse(text)) return text;
  const url = new URL(text);
  if (url.search === '' && url.username === '' && url.password === '') return text;
  url.username = '';
  url.password = '';
  if (url.search !== '') {
    url.search = [...new Set(url.searchParams.keys())].map((name) => `${encodeURIComponent(name)}=${REDACTED}`).join('&');
  }
  return url.href;
}
