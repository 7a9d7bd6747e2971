/** Structured JSON logs (pino). Credentials never reach a log line, whatever a caller passes in. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.ts';

export type { Logger };

const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'secret',
  'apiSecret',
  'adminToken',
  'token',
  '*.authorization',
  '*.secret',
  '*.apiSecret',
  '*.token',
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
