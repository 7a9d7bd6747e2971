/**
 * Configuration has one home: every setting is read here from flags, the environment and `.env` (in that order of
 * precedence), validated once at start-up, and handed on as a typed `Config`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseDurationMs } from './duration.ts';
import { SwitchboardError } from './errors.ts';
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
  /** HEALTH_PORT: where a thread of its own answers /healthz and /readyz; undefined when off. */
  healthPort: number | undefined;
  /** API key → secret: every key LiveKit may sign deliveries with. */
  keys: ReadonlyMap<string, string>;
  rulesDir: string;
  pluginsDir: string;
  databaseUrl: string;
  /** The SQLite writer's page cache, MiB. */
  sqliteCacheMiB: number;
  /** Apply pending migrations at start-up; false when `switchboard migrate` runs them instead. */
  migrateOnStart: boolean;
  adminToken: string | undefined;
  /** Grants the admin API's GETs and a read-only dashboard. */
  adminReadToken: string | undefined;
  uiSessionTtlMs: number;
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
  /** Connections the server holds at once; more are closed as they arrive. */
  maxConnections: number;
  /** Proxies (addresses, CIDR ranges) whose X-Forwarded-For is believed. */
  trustProxy: string[];
  /** Where and as whom to call LiveKit's server API; undefined without LIVEKIT_URL. */
  liveKitApi: LiveKitApiSettings | undefined;
  /** How often to reconcile the live picture with LiveKit's API; 0 when off. */
  reconcileIntervalMs: number;
  /** How long rooms may be live without a webhook before `switchboard.source_silent`; 0 when off. */
  silenceAlertMs: number;
  /** How long stored data is kept (src/engine/retention/); each 0 when kept forever. */
  retention: RetentionSettings;
  /** How often the pruner runs; 0 when it does not. */
  pruneIntervalMs: number;
}

/** Ages past which the pruner removes rows, in ms; 0 keeps them forever. */
export interface RetentionSettings {
  /** Events, their outcomes, finished deliveries and their attempts. */
  eventsMs: number;
  /** Dead deliveries, their attempts and the events they replay. */
  deadMs: number;
  /** Session history rows (a session's current status stays). */
  sessionsMs: number;
  usageMs: number;
}

/** Each setting: its variable, its flag (the variable in kebab case), its default. The only place defaults live. */
export const SETTINGS = {
  PORT: '8080',
  HOST: '0.0.0.0',
  HEALTH_PORT: undefined,
  LIVEKIT_API_KEY: undefined,
  LIVEKIT_API_SECRET: undefined,
  LIVEKIT_KEYS: undefined,
  RULES_DIR: './rules',
  PLUGINS_DIR: './plugins',
  DATABASE_URL: 'file:./data/switchboard.db',
  SQLITE_CACHE_MB: '8',
  MIGRATE_ON_START: 'true',
  ADMIN_TOKEN: undefined,
  ADMIN_READ_TOKEN: undefined,
  UI_SESSION_TTL: '12h',
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
  MAX_CONNECTIONS: '500',
  TRUST_PROXY: undefined,
  LIVEKIT_URL: undefined,
  LIVEKIT_API_KEY_ID: undefined,
  RECONCILE_INTERVAL: undefined,
  SILENCE_ALERT: '5m',
  RETENTION_EVENTS: '30d',
  RETENTION_DEAD: '90d',
  RETENTION_SESSIONS: '90d',
  RETENTION_USAGE: '0',
  PRUNE_INTERVAL: '1m',
} as const satisfies Record<string, string | undefined>;

export type SettingName = keyof typeof SETTINGS;
export type Settings = Partial<Record<SettingName, string>>;
/** Every setting's value after the defaults: a setting with a default always has one. */
export type ResolvedSettings = {
  readonly [Name in SettingName]: (typeof SETTINGS)[Name] extends string ? string : string | undefined;
};

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** `LIVEKIT_API_KEY` → `livekit-api-key`. */
export function flagName(setting: SettingName): string {
  return setting.toLowerCase().replaceAll('_', '-');
}

/** Reads `.env` from `cwd` when present; variables already in the environment win over it. */
export function readEnvironment(env: NodeJS.ProcessEnv, cwd: string): Settings {
  const fromFile = readDotenv(cwd);
  const merged: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = env[name] ?? fromFile[name];
    if (value !== undefined && value !== '') merged[name] = value;
  }
  return merged;
}

function readDotenv(cwd: string): Record<string, string | undefined> {
  const dotenvPath = `${cwd}/.env`;
  return existsSync(dotenvPath) ? parseEnv(readFileSync(dotenvPath, 'utf8')) : {};
}

/**
 * What a rule's `${env:NAME}` sees: the same sources as the settings, in the same order (flags, then the
 * environment, then `.env`). Every variable counts, not only the settings: `.env` may hold a partner's token.
 */
export function ruleEnvironment(settings: ResolvedSettings, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Record<string, string | undefined> {
  const fromSettings = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
  return { ...readDotenv(cwd), ...env, ...fromSettings };
}

/** Each setting from the first source that has it, in the order given (flags, then the environment), else its default. */
export function resolveSettings(sources: { flags?: Settings; env: Settings }): ResolvedSettings {
  const resolved: Settings = {};
  for (const name of SETTING_NAMES) resolved[name] = sources.flags?.[name] ?? sources.env[name] ?? SETTINGS[name];
  return resolved as ResolvedSettings;
}

/** What every command reads: its flags over the environment over `.env` in the working directory, then the defaults. */
export function readSettings(flags: Settings): ResolvedSettings {
  return resolveSettings({ flags, env: readEnvironment(process.env, process.cwd()) });
}

export function loadConfig(options: { env: Settings; flags?: Settings; dev?: boolean }): Config {
  const settings = resolveSettings(options);
  const dev = options.dev ?? false;

  const hasCredentials = settings.LIVEKIT_API_KEY || settings.LIVEKIT_API_SECRET || settings.LIVEKIT_KEYS;
  if (!hasCredentials && !dev) {
    throw new SwitchboardError(
      'E_CONFIG_INVALID',
      'LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set (or LIVEKIT_KEYS with "key: secret" pairs); ' +
        'for local development run `npm run dev`, which uses the LiveKit dev credentials devkey/secret',
    );
  }
  const keys = hasCredentials
    ? keySetFrom({ apiKey: settings.LIVEKIT_API_KEY, apiSecret: settings.LIVEKIT_API_SECRET, keys: settings.LIVEKIT_KEYS })
    : new Map([[DEV_API_KEY, DEV_API_SECRET]]);

  const liveKitApi = settings.LIVEKIT_URL
    ? liveKitApiSettings(settings.LIVEKIT_URL, keys, settings.LIVEKIT_API_KEY_ID ?? settings.LIVEKIT_API_KEY)
    : undefined;
  const reconcileInterval = settings.RECONCILE_INTERVAL ?? (liveKitApi ? '60s' : '0');
  const reconcileIntervalMs = parseSwitchableDuration('RECONCILE_INTERVAL', reconcileInterval);
  if (reconcileIntervalMs > 0 && !liveKitApi) invalid('RECONCILE_INTERVAL', reconcileInterval, '0 unless LIVEKIT_URL is set');

  const webhookPath = settings.WEBHOOK_PATH;
  if (!webhookPath.startsWith('/')) invalid('WEBHOOK_PATH', webhookPath, 'a path starting with "/"');

  return {
    dev,
    port: parsePort('PORT', settings.PORT),
    healthPort: settings.HEALTH_PORT === undefined ? undefined : parsePort('HEALTH_PORT', settings.HEALTH_PORT),
    host: settings.HOST,
    keys,
    rulesDir: settings.RULES_DIR,
    pluginsDir: settings.PLUGINS_DIR,
    databaseUrl: settings.DATABASE_URL,
    sqliteCacheMiB: parseCount('SQLITE_CACHE_MB', settings.SQLITE_CACHE_MB, { min: 1, max: 65_536 }),
    migrateOnStart: parseBoolean('MIGRATE_ON_START', settings.MIGRATE_ON_START),
    adminToken: settings.ADMIN_TOKEN,
    adminReadToken: settings.ADMIN_READ_TOKEN,
    uiSessionTtlMs: parseDuration('UI_SESSION_TTL', settings.UI_SESSION_TTL),
    metricsToken: settings.METRICS_TOKEN,
    webhookPath,
    maxBodyBytes: parseByteSize('MAX_BODY_BYTES', settings.MAX_BODY_BYTES),
    clockToleranceSeconds: parseDuration('CLOCK_TOLERANCE', settings.CLOCK_TOLERANCE) / 1000,
    inlineActionTimeoutMs: inlineActionTimeoutMs(settings),
    actionTimeoutMs: parseDuration('ACTION_TIMEOUT', settings.ACTION_TIMEOUT),
    workerConcurrency: parseCount('WORKER_CONCURRENCY', settings.WORKER_CONCURRENCY, { min: 0, max: 1024 }),
    workerPollIntervalMs: parseDuration('WORKER_POLL_INTERVAL', settings.WORKER_POLL_INTERVAL),
    deliveryLeaseMs: parseDuration('DELIVERY_LEASE', settings.DELIVERY_LEASE),
    shutdownTimeoutMs: parseDuration('SHUTDOWN_TIMEOUT', settings.SHUTDOWN_TIMEOUT),
    circuit: circuitOptions(settings),
    logLevel: parseLogLevel(settings.LOG_LEVEL),
    maxConnections: parseCount('MAX_CONNECTIONS', settings.MAX_CONNECTIONS, { min: 1, max: 1_000_000 }),
    trustProxy: (settings.TRUST_PROXY ?? '').split(',').map((entry) => entry.trim()).filter(Boolean),
    liveKitApi,
    reconcileIntervalMs,
    silenceAlertMs: parseSwitchableDuration('SILENCE_ALERT', settings.SILENCE_ALERT),
    retention: retentionSettings(settings),
    pruneIntervalMs: parseSwitchableDuration('PRUNE_INTERVAL', settings.PRUNE_INTERVAL),
  };
}

/** INLINE_ACTION_TIMEOUT in milliseconds: the deadline of an inline action, and of a plugin's `prepare` (a dry run's too). */
export function inlineActionTimeoutMs(settings: Pick<ResolvedSettings, 'INLINE_ACTION_TIMEOUT'>): number {
  return parseDuration('INLINE_ACTION_TIMEOUT', settings.INLINE_ACTION_TIMEOUT);
}

/** livekit-server generates secrets of this length; a shorter one is within reach of guessing. */
const MIN_SECRET_LENGTH = 32;

/** The API keys whose secret is short, to warn about at start-up: dev mode's own dev credentials excepted. */
export function shortSecretKeys(config: Pick<Config, 'dev' | 'keys'>): string[] {
  const devPair = (key: string, secret: string) => config.dev && key === DEV_API_KEY && secret === DEV_API_SECRET;
  return [...config.keys].filter(([key, secret]) => secret.length < MIN_SECRET_LENGTH && !devPair(key, secret)).map(([key]) => key);
}

/** A target's circuit breaker (src/engine/delivery/target-guards.ts), from the CIRCUIT_* settings. */
export interface CircuitOptions {
  /** Opens after this many failures in a row. */
  consecutiveFailures: number;
  /** … or when this percentage of attempts in the window failed, */
  failureRatePercent: number;
  /** … once the window holds at least this many attempts. */
  minimumAttempts: number;
  windowMs: number;
  /** How long the circuit stays open before one probe is let through. */
  resetMs: number;
}

/** The circuit a target gets when nothing configures it: the CIRCUIT_* defaults. */
export const DEFAULT_CIRCUIT: CircuitOptions = circuitOptions(resolveSettings({ env: {} }));

function circuitOptions(settings: ResolvedSettings): CircuitOptions {
  return {
    consecutiveFailures: parseCount('CIRCUIT_FAILURES', settings.CIRCUIT_FAILURES, { min: 1, max: 1000 }),
    failureRatePercent: parseCount('CIRCUIT_FAILURE_RATE', settings.CIRCUIT_FAILURE_RATE, { min: 1, max: 100 }),
    minimumAttempts: parseCount('CIRCUIT_MIN_ATTEMPTS', settings.CIRCUIT_MIN_ATTEMPTS, { min: 1, max: 100_000 }),
    windowMs: parseDuration('CIRCUIT_WINDOW', settings.CIRCUIT_WINDOW),
    resetMs: parseDuration('CIRCUIT_RESET', settings.CIRCUIT_RESET),
  };
}

export function retentionSettings(settings: ResolvedSettings): RetentionSettings {
  return {
    eventsMs: parseSwitchableDuration('RETENTION_EVENTS', settings.RETENTION_EVENTS),
    deadMs: parseSwitchableDuration('RETENTION_DEAD', settings.RETENTION_DEAD),
    sessionsMs: parseSwitchableDuration('RETENTION_SESSIONS', settings.RETENTION_SESSIONS),
    usageMs: parseSwitchableDuration('RETENTION_USAGE', settings.RETENTION_USAGE),
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

function parsePort(name: 'PORT' | 'HEALTH_PORT', value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) invalid(name, value, 'a port number from 0 to 65535');
  return port;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1000, kib: 1024, mb: 1000 ** 2, mib: 1024 ** 2 };

/** `1048576`, `512KiB`, `1MiB`, `1mb`. */
function parseByteSize(name: SettingName, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) invalid(name, value, 'a size such as 1048576, 512KiB or 1MiB');
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes < 1) invalid(name, value, 'a size of at least one byte');
  return bytes;
}

/** Milliseconds from `60`, `60s`, `500ms`, `2m`: a bare number is seconds. */
function parseDuration(name: SettingName, value: string): number {
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
