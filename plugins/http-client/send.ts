/**
 * One attempt of a plugin that calls a web service (http, billing), on the wire: fetch, with quick in-attempt retries for connection blips, bounded by
 * the attempt's deadline, and failures that never got an answer turned into the contract's errors. Each request
 * sent is an HTTP client span carrying `traceparent`, so the receiver joins the trace of the event.
 */
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import pRetry from 'p-retry';
import { PermanentError, RetryableError } from '../../src/plugins/contract.ts';
import { readExcerpt } from './response.ts';

/** Failures of a connection that the same request, sent again a moment later, usually gets past. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'UND_ERR_SOCKET', 'EAI_AGAIN']);

const QUICK_RETRIES = { retries: 2, minTimeout: 50, maxTimeout: 200, factor: 2, randomize: true } as const;

const tracer = trace.getTracer('livekit-switchboard/http');
const CLIENT: SpanOptions = Object.freeze({ kind: SpanKind.CLIENT });
const headerSetter = { set: (headers: Headers, name: string, value: string) => headers.set(name, value) };

export interface Limits {
  /** The plugin's own `timeout`, for sending the request and reading the answer's excerpt. */
  timeoutMs: number;
  /** The engine's signal: the action's time is up or the process is stopping. */
  outer: AbortSignal;
}

export interface Answer {
  response: Response;
  /** The start of the body (see readExcerpt); the rest is read and discarded or abandoned. */
  excerpt: string;
}

/**
 * Sends the request and reads the answer's excerpt within the limits. Safe to repeat after a reset connection even
 * if the target saw the first copy: every copy carries the same Idempotency-Key (and webhook-id).
 */
export async function send(url: URL, init: RequestInit, limits: Limits): Promise<Answer> {
  const deadline = new Deadline(limits);
  const { signal } = deadline;
  let tries = 0;
  try {
    const response = await pRetry(
      () => {
        tries += 1;
        return tracedFetch(url, { ...init, redirect: 'manual', signal }, tries - 1);
      },
      { ...QUICK_RETRIES, signal, shouldRetry: ({ error }) => errorCodes(error).some((code) => TRANSIENT_CODES.has(code)) },
    );
    return { response, excerpt: await readExcerpt(response) };
  } catch (error) {
    throw unanswered(error, url.origin, tries, limits, deadline.timedOut);
  } finally {
    deadline.end();
  }
}

/**
 * One signal for the plugin's timeout and the engine's signal. Not AbortSignal.timeout and AbortSignal.any: their
 * timer outlives the request until it fires, so at a thousand requests a second with a 15 s timeout some fifteen
 * thousand timers, signals and weak references stay alive, and every young-generation GC copies them.
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly #outer: AbortSignal;
  readonly #timer: NodeJS.Timeout;
  readonly #onOuterAbort = () => this.#controller.abort(this.#outer.reason);
  timedOut = false;

  constructor({ timeoutMs, outer }: Limits) {
    this.#outer = outer;
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.#controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    if (outer.aborted) this.#onOuterAbort();
    else outer.addEventListener('abort', this.#onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  end(): void {
    clearTimeout(this.#timer);
    this.#outer.removeEventListener('abort', this.#onOuterAbort);
  }
}

/** fetch, as an HTTP client span (semantic conventions) whose context travels in the request's `traceparent`. */
async function tracedFetch(url: URL, init: RequestInit, resendCount: number): Promise<Response> {
  const method = init.method ?? 'GET';
  const span = tracer.startSpan(method, CLIENT);
  // Tracing off: nothing to record, nothing to propagate.
  if (!isSpanContextValid(span.spanContext())) return fetch(url, init);
  if (span.isRecording()) {
    span.setAttributes({
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      'url.full': redactedUrl(url),
      ...(resendCount > 0 && { 'http.request.resend_count': resendCount }),
    });
  }
  const headers = new Headers(init.headers);
  propagation.inject(trace.setSpan(context.active(), span), headers, headerSetter);
  try {
    const response = await fetch(url, { ...init, headers });
    span.setAttribute('http.response.status_code', response.status);
    // A client span is an error for any 4xx or 5xx answer.
    if (response.status >= 400) {
      span.setAttribute('error.type', String(response.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return response;
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    span.end();
  }
}

function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setAttribute('error.type', errorCodes(error)[0] ?? (error instanceof Error ? error.name : 'Error'));
  span.setStatus({ code: SpanStatusCode.ERROR, message: deepestMessage(error) });
}

/** The URL without credentials, and with query values hidden: rules put tokens there. */
function redactedUrl(url: URL): string {
  const shown = new URL(url);
  shown.username = '';
  shown.password = '';
  for (const name of new Set(shown.searchParams.keys())) shown.searchParams.set(name, 'REDACTED');
  return shown.href;
}

/** The contract's error for a request that got no answer. */
function unanswered(error: unknown, origin: string, tries: number, limits: Limits, timedOut: boolean): Error {
  if (limits.outer.aborted) {
    return new RetryableError(`request to ${origin} was cut short: ${reasonOf(limits.outer)}`, {
      code: 'E_HTTP_ABORTED',
      cause: error,
    });
  }
  if (timedOut) {
    return new RetryableError(`${origin} did not answer within ${limits.timeoutMs} ms`, { code: 'E_HTTP_TIMEOUT', cause: error });
  }
  const codes = errorCodes(error);
  const detail = deepestMessage(error);
  if (codes.length === 0) {
    // fetch refused the request itself (an invalid header value, a blocked port): sending it again cannot help.
    return new PermanentError(`request to ${origin} could not be sent: ${detail}`, { code: 'E_HTTP_INVALID_REQUEST', cause: error });
  }
  const after = tries > 1 ? ` after ${tries} tries` : '';
  return new RetryableError(`request to ${origin} failed${after}: ${codes[0]} (${detail})`, { code: 'E_HTTP_NETWORK', cause: error });
}

/** System error codes anywhere in the cause chain, including each error of an AggregateError (happy eyeballs). */
function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  const visit = (value: unknown): void => {
    if (!(value instanceof Error)) return;
    const { code } = value as { code?: unknown };
    if (typeof code === 'string') codes.push(code);
    if (value instanceof AggregateError) value.errors.forEach(visit);
    visit(value.cause);
  };
  visit(error);
  return codes;
}

function deepestMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

function reasonOf(signal: AbortSignal): string {
  return signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
}
