/**
 * OpenTelemetry tracing, set up once before the app starts. Off unless an OTLP endpoint is configured
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then no SDK is registered at all and
 * every span call is the API's no-op; `serve` does not even load this module (see tracing-request.ts). On, spans go in batches to the endpoint over OTLP/HTTP (JSON).
 *
 * @example
 *   const tracing = await startTracingFromEnvironment(process.env, log);   // before startSwitchboard
 *   …
 *   await tracing?.shutdown();                                             // flushes the last spans
 *
 * Tests pass their own processor: `startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })`.
 */
import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  defaultResource,
  detectResources,
  resourceAttributesEnvDetector,
  resourceFromAttributes,
  serviceNameEnvDetector,
  type Resource,
} from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type BatchSpanProcessorOptions,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from './logger.ts';
import { tracesExporter, tracingRequested } from './tracing-request.ts';
import { waitAtMost } from '../wait-at-most.ts';

export interface Tracing {
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
  /**
   * Exports what is buffered, shuts the SDK down and releases the API's globals (context, propagation, provider),
   * so that another SDK may be registered. Tracers already handed out keep the provider they had: a process runs
   * one SDK in its life (tests register one per file).
   */
  shutdown(): Promise<void>;
}

interface TracingOptions {
  spanProcessors: SpanProcessor[];
  sampler?: Sampler;
  resource?: Resource;
}

const SHUTDOWN_TIMEOUT_MS = 5_000;

/** Registers a tracer provider with these processors, the async-local context and W3C trace context propagation. */
export function startTracing(options: TracingOptions): Tracing {
  const provider = new TracerProvider({
    spanProcessors: options.spanProcessors,
    sampler: options.sampler ?? new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    resource: options.resource ?? switchboardResource(),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  let stopped: Promise<void> | undefined;
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown() {
      stopped ??= (async () => {
        try {
          // Past the limit the last spans are given up rather than holding the process.
          await waitAtMost(provider.shutdown(), SHUTDOWN_TIMEOUT_MS, () => undefined);
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
          diag.disable();
        }
      })();
      return stopped;
    },
  };
}

/**
 * Starts tracing as the standard `OTEL_*` variables say, or returns undefined when they leave it off. Honoured:
 * `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` (`otlp` or `none`), `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`,
 * `…_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
 * `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT`,
 * `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`. A value it cannot use stops start-up with
 * `E_CONFIG_INVALID`.
 */
export async function startTracingFromEnvironment(env: NodeJS.ProcessEnv, log: Logger): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const exporterName = tracesExporter(env);
  if (exporterName !== 'otlp') invalid('OTEL_TRACES_EXPORTER', exporterName, 'otlp or none');
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol === 'grpc') invalid('OTEL_EXPORTER_OTLP_PROTOCOL', protocol, 'http/json (Switchboard exports OTLP over HTTP)');

  const sampler = samplerFrom(env);
  const batching = batchOptionsFrom(env);
  // Loaded only when used: the exporter brings the OTLP transformer along.
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const exporter: SpanExporter = new OTLPTraceExporter();
  routeDiagnosticsTo(log);
  const tracing = startTracing({ spanProcessors: [new BatchSpanProcessor({ exporter, ...batching })], sampler });
  log.info({ endpoint, sampler: sampler.toString() }, 'tracing: exporting spans over OTLP/HTTP');
  return tracing;
}

/** `service.name` is switchboard unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. */
function switchboardResource(): Resource {
  return defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'switchboard' }))
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
}

function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').trim().toLowerCase();
  const ratio = () => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG;
    if (raw === undefined || raw === '') return 1;
    const value = Number(raw);
    if (!(value >= 0 && value <= 1)) invalid('OTEL_TRACES_SAMPLER_ARG', raw, 'a ratio from 0 to 1');
    return value;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      invalid(
        'OTEL_TRACES_SAMPLER',
        name,
        'always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio',
      );
  }
}

function batchOptionsFrom(env: NodeJS.ProcessEnv): Omit<BatchSpanProcessorOptions, 'exporter'> {
  const count = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) invalid(name, raw, 'a whole number');
    return value;
  };
  const options = {
    scheduledDelayMillis: count('OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: count('OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: count('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: count('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/** The SDK's own complaints (an export the collector refused, a full queue) become log lines. */
function routeDiagnosticsTo(log: Logger): void {
  const write = (level: 'error' | 'warn') => (message: string, ...args: unknown[]) =>
    log[level]({ otel: args.length > 0 ? args.map(String) : undefined }, `tracing: ${message}`);
  const quiet = () => {};
  diag.setLogger(
    { error: write('error'), warn: write('warn'), info: quiet, debug: quiet, verbose: quiet },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

function invalid(name: string, value: string, expected: string): never {
  throw new SwitchboardError('E_CONFIG_INVALID', `${name} is "${value}": expected ${expected}`);
}
