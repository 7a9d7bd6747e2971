/**
 * One attempt of a plugin that calls a web service (http, billing), on the wire: node:http(s) on Node's keep-alive
 * agents, with quick in-attempt retries for connection blips, bounded by the attempt's deadline, and failures that
 * never got an answer turned into the contract's errors. Each request sent is an HTTP client span carrying
 * `traceparent`, so the receiver joins the trace of the event. (Not fetch: at a thousand deliveries a second its
 * streams, Headers and Request objects cost a quarter of the process's CPU time and much of its garbage.)
 */
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import pRetry from 'p-retry';
import { request as httpRequest } from '../../node-http.ts';
import { PermanentError, RetryableError } from '../contract.ts';
import { readExcerpt, type Answer } from './response.ts';

/** Failures of a connection that the same request, sent again a moment later, usually gets past. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'EAI_AGAIN']);

const QUICK_RETRIES = { retries: 2, minTimeout: 50, maxTimeout: 200, factor: 2, randomize: true } as const;

const tracer = trace.getTracer('livekit-switchboard/http');
const CLIENT: SpanOptions = Object.freeze({ kind: SpanKind.CLIENT });

export interface Limits {
  /** The plugin's own `timeout`, for sending the request and reading the answer's excerpt; without it only `outer` applies. */
  timeoutMs?: number;
  /** The engine's signal: the action's time is up or the process is stopping. */
  outer: AbortSignal;
}

export interface OutgoingRequest {
  method: string;
  /** Names as the plugin wrote them; each name once, whatever its case. */
  headers: Record<string, string>;
  body?: string;
}

/**
 * Sends the request and reads the answer's excerpt within the limits. Safe to repeat after a reset connection even
 * if the target saw the first copy: every copy carries the same Idempotency-Key (and webhook-id).
 */
export async function sendRequest(url: URL, outgoing: OutgoingRequest, limits: Limits): Promise<Answer> {
  const deadline = new Deadline(limits);
  const { signal } = deadline;
  let tries = 0;
  try {
    const response = await pRetry(
      () => {
        tries += 1;
        return tracedExchange(url, outgoing, signal, tries - 1);
      },
      { ...QUICK_RETRIES, signal, shouldRetry: ({ error }) => errorCodes(error).some((code) => TRANSIENT_CODES.has(code)) },
    );
    return { status: response.statusCode ?? 0, headers: response.headers, excerpt: await readExcerpt(response) };
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
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #onOuterAbort = () => this.#controller.abort(this.#outer.reason);
  timedOut = false;

  constructor({ timeoutMs, outer }: Limits) {
    this.#outer = outer;
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.timedOut = true;
        this.#controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
      }, timeoutMs);
    }
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

/** One request and the head of its answer, as an HTTP client span (semantic conventions) whose context travels in `traceparent`. */
async function tracedExchange(url: URL, outgoing: OutgoingRequest, signal: AbortSignal, resendCount: number): Promise<IncomingMessage> {
  const { method } = outgoing;
  const span = tracer.startSpan(method, CLIENT);
  // Tracing off: nothing to record, nothing to propagate.
  if (!isSpanContextValid(span.spanContext())) return exchange(url, outgoing, signal);
  if (span.isRecording()) {
    span.setAttributes({
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      'url.full': redactedUrl(url),
      ...(resendCount > 0 && { 'http.request.resend_count': resendCount }),
    });
  }
  const headers = { ...outgoing.headers };
  propagation.inject(trace.setSpan(context.active(), span), headers);
  try {
    const response = await exchange(url, { ...outgoing, headers }, signal);
    const status = response.statusCode ?? 0;
    span.setAttribute('http.response.status_code', status);
    // A client span is an error for any 4xx or 5xx answer.
    if (status >= 400) {
      span.setAttribute('error.type', String(status));
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

/** Sends the request; resolves with the answer once its head has arrived (its body is still to be read). */
function exchange(url: URL, { method, headers, body }: OutgoingRequest, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const issue = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const length = body === undefined ? (method === 'GET' || method === 'HEAD' ? undefined : 0) : Buffer.byteLength(body);
    let request;
    try {
      request = issue(url, { method, headers: length === undefined ? headers : { ...headers, 'content-length': length }, signal });
    } catch (error) {
      // node:http refuses the request itself (a header value with a line break, a path with spaces).
      reject(new UnsendableRequest(error));
      return;
    }
    request.once('response', resolve);
    request.once('error', reject);
    request.end(body);
  });
}

/** A request that cannot be sent as it is: sending it again cannot help. */
class UnsendableRequest extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
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
  if (error instanceof UnsendableRequest || codes.length === 0) {
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
