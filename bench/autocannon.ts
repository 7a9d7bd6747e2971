/** autocannon ships no types: the slice of its API the benchmarks use, typed once here. */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

export interface AutocannonRequest {
  method?: 'POST' | 'GET';
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface AutocannonOptions {
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  requests: Array<
    AutocannonRequest & {
      setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
      onResponse?: (status: number, body: string) => void;
    }
  >;
}

export interface AutocannonResult {
  /** Seconds, to 10 ms. */
  duration: number;
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  requests: { sent: number };
  statusCodeStats: Record<string, { count: number }>;
}

export interface AutocannonInstance extends EventEmitter {
  stop(): void;
}

type Autocannon = (options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

export const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
