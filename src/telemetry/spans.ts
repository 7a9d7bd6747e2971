/**
 * Switchboard's spans, on the OpenTelemetry API alone. Without an SDK (tracing off) every call here is one of the
 * API's no-ops: callers build attributes only for a span that `isRecording()`, and nothing is propagated for a span
 * that carries no trace. The SDK itself is set up in tracing.ts.
 */
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';

export { context, SpanKind, type Context, type Span };

export const tracer = trace.getTracer('livekit-switchboard');

/** Span options made once: a span's start allocates nothing of ours. */
export const INTERNAL: SpanOptions = Object.freeze({ kind: SpanKind.INTERNAL });

/** `prefix plugin` span names, each made once. */
export function spanNames(prefix: string): (plugin: string) => string {
  const names = new Map<string, string>();
  return (plugin) => {
    let name = names.get(plugin);
    if (name === undefined) {
      name = `${prefix} ${plugin}`;
      names.set(plugin, name);
    }
    return name;
  };
}

/** `parent` with `span` active in it; `parent` itself when the span carries no trace (tracing off). */
export function contextWithSpan(parent: Context, span: Span): Context {
  return isSpanContextValid(span.spanContext()) ? trace.setSpan(parent, span) : parent;
}

/** The W3C trace context (`traceparent`, `tracestate`) of the span active in `context`, to store with a delivery. */
export function traceContextOf(context: Context): Record<string, string> | undefined {
  const span = trace.getSpan(context);
  if (!span || !isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context, carrier);
  return carrier.traceparent === undefined ? undefined : carrier;
}

/** The context a stored trace context continues; the root (a new trace, or none) without one. */
export function contextFrom(traceContext: Record<string, string> | undefined): Context {
  return traceContext === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, traceContext);
}

/**
 * Marks the span failed, with the exception recorded: an error thrown, or a failure as Switchboard reports one
 * (`{code, message}`). `error.type` is the error's code when it has one.
 */
export function failSpan(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const { code, message } = describe(error);
  span.recordException(error instanceof Error ? error : { name: code, message });
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

function describe(error: unknown): { code: string; message: string } {
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown };
  return {
    code: typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error',
    message: typeof message === 'string' ? message : String(error),
  };
}

const NO_TRACE = Object.freeze({});

/** `trace_id` and `span_id` for a log line about work done in `span`; nothing when it carries no trace. */
export function traceLogFields(span: Span): { trace_id?: string; span_id?: string } {
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return NO_TRACE;
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
