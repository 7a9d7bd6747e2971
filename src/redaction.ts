/**
 * What of a URL may be shown outside the delivery itself. Rules put tokens in URL queries (`?token=${env:…}`) and,
 * against advice, in a URL's user info: wherever a URL is shown (a target's name, a metric label, params in the
 * admin API, an error message in a log line or a dead-letter event) those parts are hidden.
 */
export const REDACTED = '[redacted]';

// scheme://[user info@]authority, then anything up to the end of the URL (white space or a quote ends it).
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#\\@"']*@)?([^\s/?#\\"']*)([^\s"']*)/gi;
const AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#\\@]*@)?([^/?#\\]*)/i;

/**
 * A target as shown in metrics labels, the admin API and logs: a URL is cut to its scheme, host and port; any other
 * name (a plugin's name, "stripe") is kept as it is.
 */
export function targetName(target: string): string {
  const authority = AUTHORITY.exec(target);
  // Already scheme and authority alone (an http target is its URL's origin): nothing to cut, no parse on the hot path.
  if (authority === null || (authority[0].length === target.length && !target.includes('@'))) return target;
  const [, scheme, host] = authority;
  const origin = URL.parse(`${scheme}${host}`)?.origin;
  // Only special schemes (http, https, ws, …) have an origin; for others the name is kept as written, lowercased.
  return origin === undefined || origin === 'null' ? `${scheme}${host}`.toLowerCase() : origin;
}

/** `text` with every URL in it shown without user info, and with each query value and any fragment hidden. */
export function redactUrls(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (_url, scheme: string, host: string, rest: string) => {
    const hash = rest.indexOf('#');
    const beforeHash = hash === -1 ? rest : rest.slice(0, hash);
    const question = beforeHash.indexOf('?');
    const path = question === -1 ? beforeHash : beforeHash.slice(0, question);
    const query = question === -1 ? '' : `?${redactQuery(beforeHash.slice(question + 1))}`;
    return `${scheme}${host}${path}${query}${hash === -1 ? '' : `#${REDACTED}`}`;
  });
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals !== -1) return `${pair.slice(0, equals)}=${REDACTED}`;
      return pair === '' ? '' : REDACTED;
    })
    .join('&');
}
