/**
 * Whether the standard `OTEL_*` variables turn tracing on, decided without the OpenTelemetry SDK: it costs about
 * 50 MiB of resident memory, so it is loaded (tracing.ts) only when they do.
 */

/** An OTLP endpoint is set (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`), the SDK not disabled, the exporter not `none`. */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return tracesExporter(env) !== 'none';
}

/** `OTEL_TRACES_EXPORTER`, `otlp` unless set. */
export function tracesExporter(env: NodeJS.ProcessEnv): string {
  return (env.OTEL_TRACES_EXPORTER || 'otlp').trim().toLowerCase();
}
