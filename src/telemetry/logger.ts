/** Structured JSON logs (pino). Credentials never reach a log line, whatever a caller passes in. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.ts';

export type { Logger };

// pino's paths are exact (one level per `*`, names case-sensitive): each shape a credential travels in is listed.
const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'headers.Authorization',
  'req.headers.authorization',
  'secret',
  'apiSecret',
  'adminToken',
  'metricsToken',
  'token',
  '*.authorization',
  '*.secret',
  '*.apiSecret',
  '*.token',
  '*.headers.authorization',
  '*.headers.Authorization',
  // An action's params: the http plugin's signing secret, and headers, where rules put partner credentials.
  'sign.secret',
  '*.sign.secret',
  '*.params.sign.secret',
  'params.headers',
  '*.params.headers',
];

export function createLogger(options: { level: LogLevel; pretty?: boolean; destination?: pino.DestinationStream }): Logger {
  const base = {
    level: options.level,
    base: { service: 'switchboard' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  return pino(base);
}
