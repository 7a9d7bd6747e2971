/**
 * Where a plugin may send requests: to hosts the rule's author wrote, never to hosts chosen by event data.
 * At load the scheme, host and port must be literal unless `allowHosts` lists what a template may produce; at run
 * the rendered URL is held to the same list.
 */
import { PermanentError } from '../contract.ts';
import { isTemplated } from '../templated.ts';

// The authority of an http(s) URL ends at the first of these; WHATWG URL parsing treats "\" like "/".
const LITERAL_ORIGIN = /^([a-z][a-z0-9+.-]*:\/\/[^/?#\\]+)[/?#\\]/i;

/** The URL to call, or a PermanentError when it is not an http(s) URL to an allowed host. */
export function destination(url: string, allowHosts?: readonly string[]): URL {
  const parsed = URL.parse(url);
  // Not quoted whole: its query may hold a token.
  if (parsed === null) throw invalidUrl(`"${url.split(/[?#]/)[0]}" is not a valid URL`);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidUrl(`only http: and https: URLs can be called, not ${parsed.protocol}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalidUrl('a URL must not carry credentials; send them in headers (e.g. Authorization: "${env:TOKEN}")');
  }
  if (allowHosts !== undefined && !originAllowed(parsed, allowHosts)) {
    throw new PermanentError(`${parsed.origin} is not in allowHosts (${allowHosts.join(', ')})`, {
      code: 'E_HTTP_HOST_NOT_ALLOWED',
    });
  }
  return parsed;
}

/**
 * True when the URL's scheme, host and port are those of an entry. An entry is a host (`hooks.example.com`, or
 * `*.example.com` for its subdomains only), optionally with a scheme before it and a port after it
 * (`https://*.example.com:8443`); without a port only the scheme's default port is allowed, so data cannot steer a
 * request to another service on an allowed host.
 */
export function originAllowed(url: URL, allowHosts: readonly string[]): boolean {
  return allowHosts.some((text) => {
    const entry = parseEntry(text);
    if (entry === undefined || !hostAllowed(url.hostname, [entry.host])) return false;
    if (entry.scheme !== undefined && entry.scheme !== url.protocol) return false;
    return entry.port === undefined ? url.port === '' : entry.port === portOf(url);
  });
}

/** True when `hostname` is one of the host entries, or under a `*.example.com` entry (which excludes example.com). */
export function hostAllowed(hostname: string, hosts: readonly string[]): boolean {
  return hosts.some((entry) => {
    if (!entry.startsWith('*.')) return normalizeHost(entry) === hostname;
    const suffix = normalizeHost(entry.slice(2));
    return suffix !== undefined && hostname.endsWith(`.${suffix}`);
  });
}

interface AllowEntry {
  scheme?: string;
  host: string;
  port?: number;
}

const ALLOW_ENTRY = /^(?:(https?):\/\/)?(\*\.[^:/]+|\[[0-9a-f:.]+\]|[^:/[\]]+)(?::(\d{1,5}))?$/i;

function parseEntry(text: string): AllowEntry | undefined {
  const match = ALLOW_ENTRY.exec(text);
  if (match === null) return undefined;
  const [, scheme, host, port] = match;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (normalizeHost(name) === undefined || name.includes('*') || Number(port) > 65535) return undefined;
  return { scheme: scheme && `${scheme.toLowerCase()}:`, host, port: port === undefined ? undefined : Number(port) };
}

function portOf(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

/** Load-time problems with `url` and `allowHosts` as written in the rule. */
export function checkDestination(url: unknown, allowHosts: unknown): string[] {
  const problems = checkAllowHosts(allowHosts);
  const hosts = problems.length === 0 && Array.isArray(allowHosts) ? (allowHosts as string[]) : undefined;
  const origin = literalOrigin(url);
  if (origin === null) return problems; // not a string and not a template: the schema reports it
  if (origin === undefined) {
    if (allowHosts === undefined) {
      problems.push(
        'url: the scheme, host and port must be written literally, so that event data cannot choose where requests go; ' +
          'template only the path and query, or list the hosts a template may produce in allowHosts',
      );
    }
    return problems;
  }
  try {
    destination(origin, hosts);
  } catch (error) {
    problems.push(`url: ${(error as Error).message}`);
  }
  return problems;
}

/**
 * The part of a rule's `url` that decides where requests go, when it is written literally: the whole URL when it
 * has no template, else what comes before the first template if that already ends the authority. Undefined when
 * a template can reach the scheme, host or port; null when `url` is not a URL at all.
 */
function literalOrigin(url: unknown): string | undefined | null {
  if (typeof url !== 'string') return isTemplated(url) ? undefined : null;
  const templateAt = url.indexOf('{{');
  if (templateAt === -1) return url;
  return LITERAL_ORIGIN.exec(url.slice(0, templateAt))?.[1];
}

function checkAllowHosts(allowHosts: unknown): string[] {
  if (!Array.isArray(allowHosts)) {
    return isTemplated(allowHosts) ? ['allowHosts must be written literally: event data cannot widen it'] : [];
  }
  return allowHosts.flatMap((entry, index) => {
    if (isTemplated(entry)) return [`allowHosts[${index}] must be written literally: event data cannot widen it`];
    if (typeof entry !== 'string') return [];
    return parseEntry(entry) === undefined
      ? [`allowHosts[${index}] "${entry}" is not a hostname or a "*.example.com" wildcard, with an optional scheme and port`]
      : [];
  });
}

/** A hostname as URL parsing spells it (lowercase, punycode, IPv6 in brackets), or undefined if it is none. */
function normalizeHost(host: string): string | undefined {
  if (host === '' || /[/?#@:\\\s]/.test(host.replace(/^\[[0-9a-f:.]+\]$/i, ''))) return undefined;
  return URL.parse(`http://${host}/`)?.hostname;
}

function invalidUrl(message: string): PermanentError {
  return new PermanentError(message, { code: 'E_HTTP_INVALID_URL' });
}
