/**
 * `POST $WEBHOOK_PATH`, the hot path: the raw body is read within MAX_BODY_BYTES, verified as LiveKit signs it,
 * parsed, then handed to ingest. It is a plain node:http handler, in front of express, because every microsecond
 * here is spent once per LiveKit event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { propagation, ROOT_CONTEXT, type Attributes, type SpanOptions } from '@opentelemetry/api';
import { isSwitchboardError, SwitchboardError } from '../errors.ts';
import { parseEvent } from '../livekit/event.ts';
import type { LiveKitEvent } from '../livekit/event-types.ts';
import { verifyWebhook } from '../livekit/verify.ts';
import type { Ingestion, IngestResult } from '../engine/ingest/ingestion.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { contextWithSpan, failSpan, SpanKind, traceLogFields, tracer, type Context, type Span } from '../telemetry/spans.ts';
import { answerError, logError, sendJson } from './error-response.ts';
import type { FailureLimiter } from './failure-limiter.ts';
import type { SourceAddress } from './source-address.ts';

export interface WebhookRouteOptions {
  path: string;
  keys: ReadonlyMap<string, string>;
  maxBodyBytes: number;
  clockToleranceSeconds: number;
  ingest: Ingestion['ingest'];
  log: Logger;
  metrics: Metrics;
  /** False once shutdown begins: new deliveries get 503 so LiveKit retries them elsewhere or later. */
  accepting: () => boolean;
  sourceAddress: SourceAddress;
  /** Failed verifications per source address: past the limit, 429 before the body is read. */
  failures: FailureLimiter;
  /** The log lines of those failures (and of their 429s) per source address: past the limit, counted, not written. */
  failureLog: FailureLimiter;
}

/** The whole body must arrive this soon after the headers: LiveKit sends a small body at once. */
const BODY_TIMEOUT_MS = 5_000;

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One webhook request on its way through: its server span, and what is known of the event so far. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  started: number;
  span: Span;
  /** The context the event's own spans are children in. */
  context: Context;
  source: string;
  /** `ok` once the signature checked out, else the failed check, once known. */
  verification?: string;
  event?: LiveKitEvent;
}

const SERVER: SpanOptions = Object.freeze({ kind: SpanKind.SERVER });
// HTTP semantic conventions: methods outside this set are reported as _OTHER.
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

export function webhookHandler(options: WebhookRouteOptions): RequestHandler {
  const spanNames = new Map([...KNOWN_METHODS].map((method) => [method, `${method} ${options.path}`]));
  const otherSpanName = `HTTP ${options.path}`;
  return (req, res) => {
    // A caller that sends a traceparent gets the webhook's trace as part of its own.
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(spanNames.get(req.method ?? '') ?? otherSpanName, SERVER, parent);
    if (span.isRecording()) span.setAttributes(requestAttributes(req, options.path));
    const source = options.sourceAddress(req);
    const exchange: Exchange = { req, res, started: performance.now(), span, context: contextWithSpan(parent, span), source };

    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      refuse(exchange, options, new SwitchboardError('E_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; LiveKit posts webhooks with POST`));
      req.resume();
      return;
    }
    if (!options.accepting()) {
      refuse(exchange, options, new SwitchboardError('E_SHUTTING_DOWN', 'switchboard is shutting down; retry shortly'));
      req.resume();
      return;
    }
    const retryAfter = options.failures.retryAfterSeconds(source);
    if (retryAfter > 0) {
      res.setHeader('Retry-After', String(retryAfter));
      res.setHeader('Connection', 'close');
      refuse(exchange, options, new SwitchboardError('E_RATE_LIMITED', `too many failed verifications from ${source}; retry in ${retryAfter} s`));
      req.resume();
      return;
    }
    readBody(req, options.maxBodyBytes).then(
      (body) => receive(exchange, body, options),
      (error: unknown) => {
        // The rest of an oversized or slow body is not worth reading: answer, then close the connection.
        res.setHeader('Connection', 'close');
        refuse(exchange, options, error);
      },
    );
  };
}

async function receive(exchange: Exchange, body: Buffer, options: WebhookRouteOptions): Promise<void> {
  const { req, res } = exchange;
  try {
    const { apiKey } = verifyWebhook({
      body,
      authorization: req.headers.authorization,
      keys: options.keys,
      nowSeconds: Date.now() / 1000,
      clockToleranceSeconds: options.clockToleranceSeconds,
    });
    exchange.verification = 'ok';
    const event = parseEvent(body);
    exchange.event = event;
    const results = await options.ingest({ body, event, apiKey, receivedAt: new Date() }, exchange.context);
    sendJson(res, 200, { success: true, results });
    report(exchange, options, results);
  } catch (error) {
    refuse(exchange, options, error);
  }
}

/** Metrics, span and log line of a webhook that was recorded (or found to be a duplicate). */
function report(exchange: Exchange, options: WebhookRouteOptions, results: IngestResult): void {
  const { span, event } = exchange;
  const durationMs = performance.now() - exchange.started;
  const outcome = results.duplicate ? 'duplicate' : 'accepted';
  options.metrics.webhook(results.event_type, outcome, durationMs / 1000);
  if (span.isRecording()) {
    span.setAttributes(eventAttributes(exchange));
    span.setAttributes({
      'http.response.status_code': 200,
      'livekit.event.id': results.event_id,
      'switchboard.duplicate': results.duplicate,
    });
  }
  span.end();
  if (options.log.isLevelEnabled('info')) {
    options.log.info(
      {
        event_id: results.event_id,
        event: results.event_type,
        room: event?.room?.name,
        outcome,
        duplicate: results.duplicate,
        matched: results.matched,
        failed_actions: results.actions.filter((action) => action.status === 'failed').length,
        duration_ms: Math.round(durationMs * 100) / 100,
        ...traceLogFields(span),
      },
      'webhook',
    );
  }
}

/** Answers with the error, and reports it: the log line (with its erresid), metrics, and the span. */
function refuse(exchange: Exchange, options: WebhookRouteOptions, error: unknown): void {
  const { span, event } = exchange;
  const reason = signatureFailure(error);
  if (reason !== undefined) {
    exchange.verification = reason;
    options.failures.recordFailure(exchange.source);
  }
  const durationMs = performance.now() - exchange.started;
  const answered = answerError(exchange.res, error);
  // A forger's flood is answered in full but logged a few lines a second, each saying how many it stands for.
  const limited = reason !== undefined || isSwitchboardError(error, 'E_RATE_LIMITED');
  const line = limited ? options.failureLog.take(exchange.source) : { granted: true, refusedBefore: 0 };
  if (line.granted) {
    logError(options.log, error, answered, {
      duration_ms: Math.round(durationMs * 100) / 100,
      ...(event && { event_id: event.id, event: event.event, room: event.room?.name }),
      ...(limited && { source: exchange.source }),
      ...(line.refusedBefore > 0 && { suppressed: line.refusedBefore }),
      ...traceLogFields(span),
    });
  }
  options.metrics.webhook(event?.event, answered.errcode, durationMs / 1000);
  if (reason !== undefined) options.metrics.verificationFailed(reason);
  if (span.isRecording()) {
    span.setAttributes(eventAttributes(exchange));
    span.setAttributes({ 'http.response.status_code': answered.status, 'switchboard.erresid': answered.erresid });
    // HTTP semantic conventions: a server span is an error for 5xx; a 4xx is the client's, recorded but not one.
    if (answered.status >= 500) failSpan(span, error);
    else span.recordException(error instanceof Error ? error : String(error));
  }
  span.end();
}

function signatureFailure(error: unknown): string | undefined {
  if (!isSwitchboardError(error, 'E_WEBHOOK_INVALID_SIGNATURE')) return undefined;
  const reason = (error.details as { reason?: unknown } | undefined)?.reason;
  return typeof reason === 'string' ? reason : 'unknown';
}

function requestAttributes(req: IncomingMessage, route: string): Attributes {
  const method = req.method ?? '';
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const [host, port] = (req.headers.host ?? '').split(':');
  return {
    'http.request.method': KNOWN_METHODS.has(method) ? method : '_OTHER',
    ...(!KNOWN_METHODS.has(method) && { 'http.request.method_original': method }),
    'http.route': route,
    'url.path': queryAt === -1 ? url : url.slice(0, queryAt),
    'url.scheme': 'http',
    'server.address': host || undefined,
    'server.port': port ? Number(port) : undefined,
    'client.address': req.socket.remoteAddress,
  };
}

function eventAttributes({ event, verification }: Exchange): Attributes {
  return {
    'switchboard.verification': verification,
    'livekit.event.name': event?.event,
    'livekit.event.id': event?.id,
    'livekit.room.name': event?.room?.name,
  };
}

function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new SwitchboardError('E_WEBHOOK_TOO_LARGE', `the body is larger than MAX_BODY_BYTES (${maxBodyBytes} bytes)`);
  const declared = Number(req.headers['content-length']);
  if (declared > maxBodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (error: SwitchboardError) => {
      clearTimeout(timer);
      req.removeAllListeners('data');
      req.pause();
      reject(error);
    };
    const timer = setTimeout(
      () => stop(new SwitchboardError('E_WEBHOOK_TIMEOUT', `the body did not arrive within ${BODY_TIMEOUT_MS / 1000} s`)),
      BODY_TIMEOUT_MS,
    );
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) return stop(tooLarge());
      chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(timer);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (error) =>
      stop(new SwitchboardError('E_WEBHOOK_INVALID_PAYLOAD', `the body could not be read: ${error.message}`, { cause: error })),
    );
  });
}
