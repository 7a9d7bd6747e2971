/**
 * Configuration has one home: every setting is read here from flags, the environment and `.env` (in that order of
 * precedence), validated once at start-up, and handed on as a typed `Config`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseDurationMs } from './duration.ts';
import { SwitchboardError } from './errors.ts';
import type { CircuitOptions } from './engine/target-guards.ts';
import { keySetFrom } from './livekit/keys.ts';
import { liveKitApiSettings, type LiveKitApiSettings } from './livekit/api.ts';

export const DEV_API_KEY = 'devkey';
export const DEV_API_SECRET = 'secret';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Config {
  dev: boolean;
  port: number;
  host: string;
  /** API key → secret: every key LiveKit may sign deliveries with. */
  keys: ReadonlyMap<string, string>;
  rulesDir: string;
  pluginsDir: string;
  databaseUrl: string;
  /** Apply pending migrations at start-up; false when `switchboard migrate` runs them instead. */
  migrateOnStart: boolean;
  adminToken: string | undefined;
  /** Bearer token GET /metrics requires; without one /metrics is open (scrapers usually reach it on an internal network). */
  metricsToken: string | undefined;
  webhookPath: string;
  maxBodyBytes: number;
  clockToleranceSeconds: number;
  inlineActionTimeoutMs: number;
  /** The default deadline of one async attempt (an action's `timeout:` overrides it). */
  actionTimeoutMs: number;
  workerConcurrency: number;
  workerPollIntervalMs: number;
  deliveryLeaseMs: number;
  shutdownTimeoutMs: number;
  circuit: CircuitOptions;
  logLevel: LogLevel;
  /** Where and as whom to call LiveKit's server API; undefined without LIVEKIT_URL. */
  liveKitApi: LiveKitApiSettings | undefined;
  /** How often to reconcile the live picture with LiveKit's API; 0 when off. */
  reconcileIntervalMs: number;
  /** How long rooms may be live without a webhook before `switchboard.source_silent`; 0 when off. */
  silenceAlertMs: number;
}

/** Each setting: its variable, its flag (the variable in kebab case), its default. */
const SETTINGS = {
  PORT: '8080',
  HOST: '0.0.0.0',
  LIVEKIT_API_KEY: undefined,
  LIVEKIT_API_SECRET: undefined,
  LIVEKIT_KEYS: undefined,
  RULES_DIR: './rules',
  PLUGINS_DIR: './plugins',
  DATABASE_URL: 'file:./data/switchboard.db',
  MIGRATE_ON_START: 'true',
  ADMIN_TOKEN: undefined,
  METRICS_TOKEN: undefined,
  WEBHOOK_PATH: '/api/v1/webhooks/livekit',
  MAX_BODY_BYTES: '1MiB',
  CLOCK_TOLERANCE: '60s',
  INLINE_ACTION_TIMEOUT: '5s',
  ACTION_TIMEOUT: '15s',
  WORKER_CONCURRENCY: '16',
  WORKER_POLL_INTERVAL: '250ms',
  DELIVERY_LEASE: '30s',
  SHUTDOWN_TIMEOUT: '10s',
  CIRCUIT_FAILURES: '5',
  CIRCUIT_FAILURE_RATE: '50',
  CIRCUIT_MIN_ATTEMPTS: '20',
  CIRCUIT_WINDOW: '60s',
  CIRCUIT_RESET: '30s',
  LOG_LEVEL: 'info',
  LIVEKIT_URL: undefined,
  LIVEKIT_API_KEY_ID: undefined,
  RECONCILE_INTERVAL: undefined,
  SILENCE_ALERT: '5m',
} as const satisfies Record<string, string | undefined>;

export type SettingName = keyof typeof SETTINGS;
export type Settings = Partial<Record<SettingName, string>>;

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** `LIVEKIT_API_KEY` → `livekit-api-key`. */
export function flagName(setting: SettingName): string {
  return setting.toLowerCase().replaceAll('_', '-');
}

/** Reads `.env` from `cwd` when present; variables already in the environment win over it. */
export function readEnvironment(env: NodeJS.ProcessEnv, cwd: string): Settings {
  const dotenvPath = `${cwd}/.env`;
  const fromFile = existsSync(dotenvPath) ? parseEnv(readFileSync(dotenvPath, 'utf8')) : {};
  const merged: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = env[name] ?? fromFile[name];
    if (value !== undefined && value !== '') merged[name] = value;
  }
  return merged;
}

export function loadConfig(options: { env: Settings; flags?: Settings; dev?: boolean }): Config {
  const raw: Settings = { ...options.env, ...options.flags };
  const setting = (name: SettingName): string | undefined => raw[name] ?? SETTINGS[name];
  const dev = options.dev ?? false;

  const hasCredentials = raw.LIVEKIT_API_KEY || raw.LIVEKIT_API_SECRET || raw.LIVEKIT_KEYS;
  if (!hasCredentials && !dev) {
    throw new SwitchboardError(
      'E_CONFIG_INVALID',
      'LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set (or LIVEKIT_KEYS with "key: secret" pairs); ' +
        'for local development run `npm run dev`, which uses the LiveKit dev credentials devkey/secret',
    );
  }
  const keys = hasCredentials
    ? keySetFrom({ apiKey: raw.LIVEKIT_API_KEY, apiSecret: raw.LIVEKIT_API_SECRET, keys: raw.LIVEKIT_KEYS })
    : new Map([[DEV_API_KEY, DEV_API_SECRET]]);

  const liveKitApi = raw.LIVEKIT_URL
    ? liveKitApiSettings(raw.LIVEKIT_URL, keys, raw.LIVEKIT_API_KEY_ID ?? raw.LIVEKIT_API_KEY)
    : undefined;
  const reconcileInterval = raw.RECONCILE_INTERVAL ?? (liveKitApi ? '60s' : '0');
  const reconcileIntervalMs = parseSwitchableDuration('RECONCILE_INTERVAL', reconcileInterval);
  if (reconcileIntervalMs > 0 && !liveKitApi) invalid('RECONCILE_INTERVAL', reconcileInterval, '0 unless LIVEKIT_URL is set');

  const webhookPath = setting('WEBHOOK_PATH')!;
  if (!webhookPath.startsWith('/')) invalid('WEBHOOK_PATH', webhookPath, 'a path starting with "/"');

  return {
    dev,
    port: parsePort(setting('PORT')!),
    host: setting('HOST')!,
    keys,
    rulesDir: setting('RULES_DIR')!,
    pluginsDir: setting('PLUGINS_DIR')!,
    databaseUrl: setting('DATABASE_URL')!,
    migrateOnStart: parseBoolean('MIGRATE_ON_START', setting('MIGRATE_ON_START')!),
    adminToken: raw.ADMIN_TOKEN,
    metricsToken: raw.METRICS_TOKEN,
    webhookPath,
    maxBodyBytes: parseByteSize('MAX_BODY_BYTES', setting('MAX_BODY_BYTES')!),
    clockToleranceSeconds: parseDuration('CLOCK_TOLERANCE', setting('CLOCK_TOLERANCE')!) / 1000,
    inlineActionTimeoutMs: parseDuration('INLINE_ACTION_TIMEOUT', setting('INLINE_ACTION_TIMEOUT')!),
    actionTimeoutMs: parseDuration('ACTION_TIMEOUT', setting('ACTION_TIMEOUT')!),
    workerConcurrency: parseCount('WORKER_CONCURRENCY', setting('WORKER_CONCURRENCY')!, { min: 0, max: 1024 }),
    workerPollIntervalMs: parseDuration('WORKER_POLL_INTERVAL', setting('WORKER_POLL_INTERVAL')!),
    deliveryLeaseMs: parseDuration('DELIVERY_LEASE', setting('DELIVERY_LEASE')!),
    shutdownTimeoutMs: parseDuration('SHUTDOWN_TIMEOUT', setting('SHUTDOWN_TIMEOUT')!),
    circuit: {
      consecutiveFailures: parseCount('CIRCUIT_FAILURES', setting('CIRCUIT_FAILURES')!, { min: 1, max: 1000 }),
      failureRatePercent: parseCount('CIRCUIT_FAILURE_RATE', setting('CIRCUIT_FAILURE_RATE')!, { min: 1, max: 100 }),
      minimumAttempts: parseCount('CIRCUIT_MIN_ATTEMPTS', setting('CIRCUIT_MIN_ATTEMPTS')!, { min: 1, max: 100_000 }),
      windowMs: parseDuration('CIRCUIT_WINDOW', setting('CIRCUIT_WINDOW')!),
      resetMs: parseDuration('CIRCUIT_RESET', setting('CIRCUIT_RESET')!),
    },
    logLevel: parseLogLevel(setting('LOG_LEVEL')!),
    liveKitApi,
    reconcileIntervalMs,
    silenceAlertMs: parseSwitchableDuration('SILENCE_ALERT', setting('SILENCE_ALERT')!),
  };
}

function invalid(name: SettingName, value: string, expected: string): never {
  throw new SwitchboardError('E_CONFIG_INVALID', `${name} is "${value}": expected ${expected}`);
}

function parseCount(name: SettingName, value: string, range: { min: number; max: number }): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < range.min || count > range.max) {
    invalid(name, value, `a whole number from ${range.min} to ${range.max}`);
  }
  return count;
}

function parseBoolean(name: SettingName, value: string): boolean {
  const normalized = value.trim().toLowerCase();
  if (normalized === 'true' || normalized === '1') return true;
  if (normalized === 'false' || normalized === '0') return false;
  invalid(name, value, 'true or false');
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) invalid('PORT', value, 'a port number from 0 to 65535');
  return port;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1000, kib: 1024, mb: 1000 ** 2, mib: 1024 ** 2 };

/** `1048576`, `512KiB`, `1MiB`, `1mb`. */
export function parseByteSize(name: SettingName, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) invalid(name, value, 'a size such as 1048576, 512KiB or 1MiB');
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes < 1) invalid(name, value, 'a size of at least one byte');
  return bytes;
}

/** Milliseconds from `60`, `60s`, `500ms`, `2m`: a bare number is seconds. */
export function parseDuration(name: SettingName, value: string): number {
  const ms = parseDurationMs(value);
  if (ms === undefined) invalid(name, value, 'a duration such as 60, 60s, 500ms or 2m');
  return ms;
}

/** A duration of at least one second, or 0 for off. */
function parseSwitchableDuration(name: SettingName, value: string): number {
  const ms = parseDuration(name, value);
  if (ms !== 0 && ms < 1000) invalid(name, value, 'a duration of at least 1s, or 0 to turn it off');
  return ms;
}

function parseLogLevel(value: string): LogLevel {
  const level = value.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) invalid('LOG_LEVEL', value, `one of ${LOG_LEVELS.join(', ')}`);
  return level;
}
