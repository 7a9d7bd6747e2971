import {
  checkDestination,
  CLIENT_HEADERS,
  checkTimeout,
  definePlugin,
  destination,
  failureFor,
  HEADER_NAME,
  isTemplated,
  PermanentError,
  type PluginContext,
  sendRequest,
  TIMEOUT_PARAM,
  timeoutMs,
  USER_AGENT,
} from 'livekit-switchboard/plugin';
import { encodeBody, type ContentType, type EncodedBody } from './http/request-body.ts';
import { checkSigning, signatureHeaders, signingHeaderNames, type Signing } from './http/signing.ts';

/**
 * The one target of every URL that does not parse: what a template rendered is not a target's name, and naming each
 * would grow the targets (their guards, their metric series) with every distinct bad value.
 */
export const UNPARSEABLE_URL_TARGET = 'http:unparseable-url';

export interface HttpParams {
  url: string;
  allowHosts?: string[];
  method?: (typeof METHODS)[number];
  headers?: Record<string, string>;
  body?: unknown;
  contentType?: ContentType;
  timeout?: number | string;
  sign?: Signing;
}

interface HttpResult {
  status: number;
  durationMs: number;
}

const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'] as const;

/**
 * Forwards an event (or a transform of it) to an HTTP endpoint, signed and idempotent. The engine retries, breaks
 * circuits and rate-limits per target; this plugin only classifies each answer as success, retryable or permanent.
 *
 * ```yaml
 * actions:
 *   - plugin: http
 *     with:
 *       url: https://hooks.example.com/livekit/{{ room.name }}
 *       headers: { Authorization: "Bearer ${env:HOOK_TOKEN}" }
 *       body: { room: "{{ room.name }}", event: "{{ event }}" }
 *       sign: { scheme: standard-webhooks, secret: "${env:HOOK_SECRET}" }
 * ```
 */
export default definePlugin<HttpParams, HttpResult>({
  name: 'http',
  description: 'Sends the event (or a transform of it) to an HTTP endpoint, optionally signed; non-2xx answers fail the attempt.',
  params: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: {
        type: 'string',
        format: 'uri',
        minLength: 1,
        description: 'http(s) URL; templates may fill the path and query (each value percent-encoded), the host only when allowHosts is given.',
      },
      allowHosts: {
        type: 'array',
        minItems: 1,
        items: { type: 'string', minLength: 1 },
        description: 'Where a templated url may go: "hooks.example.com" or "*.example.com" (subdomains), optionally with a scheme and port ("https://*.example.com:8443"); without a port, the default port only.',
      },
      method: { enum: METHODS, description: 'Default POST.' },
      headers: {
        type: 'object',
        propertyNames: { pattern: HEADER_NAME },
        additionalProperties: { type: 'string' },
        description: 'Extra request headers; values may be templated, secrets come from ${env:NAME}.',
      },
      body: { description: 'Any JSON value to send; default: the event exactly as received.' },
      contentType: { enum: ['json', 'form'], description: 'json (default) or form (a flat object, urlencoded).' },
      timeout: TIMEOUT_PARAM,
      sign: {
        type: 'object',
        required: ['scheme', 'secret'],
        additionalProperties: false,
        properties: {
          scheme: { enum: ['standard-webhooks', 'hmac-sha256'] },
          secret: {
            type: ['string', 'array'],
            minLength: 1,
            minItems: 1,
            items: { type: 'string', minLength: 1 },
            description: 'standard-webhooks: "whsec_…", or a list to sign with each during rotation. hmac-sha256: one secret.',
          },
          header: { type: 'string', pattern: HEADER_NAME, description: 'hmac-sha256 only; default X-Signature.' },
        },
        if: { properties: { scheme: { const: 'hmac-sha256' } } },
        then: { properties: { secret: { type: 'string' } } },
      },
    },
  },

  check(params) {
    return [
      ...checkDestination(params.url, params.allowHosts),
      ...checkHeaders(params.headers, params.sign),
      ...checkSigning(params.sign),
      ...checkBody(params),
      ...checkTimeout(params.timeout),
    ];
  },

  target(params) {
    return URL.parse(params.url)?.origin ?? UNPARSEABLE_URL_TARGET;
  },

  async run(params, ctx) {
    const started = performance.now();
    const url = destinationOf(params, ctx);
    const method = params.method ?? 'POST';
    const body = method === 'GET' ? undefined : encodeBody(params.body === undefined ? ctx.event : params.body, params.contentType ?? 'json');
    const timeout = timeoutMs(params.timeout);
    const answer = await sendRequest(
      url,
      { method, headers: Object.fromEntries(requestHeaders(params, body, ctx)), body: body?.text },
      { timeoutMs: timeout, outer: ctx.signal },
    );
    ctx.recordResponse({ status: answer.status, body: answer.excerpt });
    const failure = failureFor(url.origin, answer);
    if (failure !== undefined) throw failure;
    return { status: answer.status, durationMs: Math.round(performance.now() - started) };
  },
});

function requestHeaders(params: HttpParams, body: EncodedBody | undefined, ctx: PluginContext): Headers {
  try {
    const headers = new Headers(params.headers);
    headers.set('user-agent', USER_AGENT);
    headers.set('idempotency-key', ctx.idempotencyKey);
    if (body !== undefined) headers.set('content-type', body.contentType);
    const signed = params.sign === undefined ? {} : signatureHeaders(params.sign, body?.text ?? '', ctx.idempotencyKey);
    for (const [name, value] of Object.entries(signed)) headers.set(name, value);
    return headers;
  } catch (error) {
    // A rendered header value with a line break or other character HTTP forbids. The Headers error quotes the
    // value, which may hold a secret: the error names the header instead.
    throw new PermanentError(`invalid request header ${invalidHeaderName(params.headers)}: its value has a line break or another character HTTP forbids`, {
      code: 'E_HTTP_INVALID_REQUEST',
    });
  }
}

function invalidHeaderName(headers: Record<string, string> | undefined): string {
  const invalid = Object.entries(headers ?? {}).find(([name, value]) => {
    try {
      new Headers([[name, value]]);
      return false;
    } catch {
      return true;
    }
  });
  return invalid ? `"${invalid[0]}"` : '(a signature header)';
}

function checkHeaders(headers: unknown, sign: unknown): string[] {
  if (typeof headers !== 'object' || headers === null) return [];
  const signing = new Set(signingHeaderNames(sign).map((name) => name.toLowerCase()));
  return Object.keys(headers).flatMap((name) => {
    const lower = name.toLowerCase();
    if (signing.has(lower)) return [`headers.${name} is written by sign; remove it`];
    const why = Object.hasOwn(CLIENT_HEADERS, lower) ? CLIENT_HEADERS[lower] : undefined;
    return why === undefined ? [] : [`headers.${name} cannot be set: ${why}`];
  });
}

function checkBody({ method, body, contentType }: Record<string, unknown>): string[] {
  if (body === undefined) return [];
  if (method === 'GET') return ['body: a GET request carries no body; remove body or use another method'];
  const flat = typeof body === 'object' && body !== null && !Array.isArray(body);
  if (contentType === 'form' && !flat && !isTemplated(body)) return ['body: contentType form needs an object (field: value)'];
  return [];
}

/** The URL to call; one that does not parse is a permanent failure naming the rule that rendered it. */
function destinationOf(params: HttpParams, ctx: PluginContext): URL {
  if (!URL.canParse(params.url)) {
    throw new PermanentError(`rule "${ctx.rule.id}" rendered a url that is not a valid URL`, { code: 'E_HTTP_INVALID_URL' });
  }
  return destination(params.url, params.allowHosts);
}
