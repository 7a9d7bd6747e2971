/**
 * Preloaded (`--import`) into a server under test: starts tracing from the OTEL_* variables before the server's own
 * code runs, as `switchboard serve` does. Without OTEL_EXPORTER_OTLP_ENDPOINT it registers nothing.
 */
import { createLogger } from '../../src/telemetry/logger.ts';
import { startTracingFromEnvironment } from '../../src/telemetry/tracing.ts';

await startTracingFromEnvironment(process.env, createLogger({ level: 'warn' }));
