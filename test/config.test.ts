import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CIRCUIT, loadConfig, readEnvironment, resolveSettings } from '../src/config.ts';

const credentials = { LIVEKIT_API_KEY: 'APIkey', LIVEKIT_API_SECRET: 'a-secret' };

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ env: credentials });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      rulesDir: './rules',
      pluginsDir: './plugins',
      databaseUrl: 'file:./data/switchboard.db',
      sqliteCacheMiB: 8,
      migrateOnStart: true,
      adminToken: undefined,
      webhookPath: '/api/v1/webhooks/livekit',
      maxBodyBytes: 1024 * 1024,
      clockToleranceSeconds: 60,
      logLevel: 'info',
    });
    expect([...config.keys]).toEqual([['APIkey', 'a-secret']]);
  });

  it('sizes the SQLite page cache in whole MiB', () => {
    expect(loadConfig({ env: { ...credentials, SQLITE_CACHE_MB: '16' } }).sqliteCacheMiB).toBe(16);
    for (const value of ['0', '1.5', '16MiB']) {
      expect(() => loadConfig({ env: { ...credentials, SQLITE_CACHE_MB: value } })).toThrow(/SQLITE_CACHE_MB/);
    }
  });

  it('refuses to start without credentials outside dev mode, naming the variables', () => {
    expect(() => loadConfig({ env: {} })).toThrow(/LIVEKIT_API_KEY and LIVEKIT_API_SECRET/);
  });

  it('names the missing half of a key pair', () => {
    expect(() => loadConfig({ env: { LIVEKIT_API_KEY: 'APIkey' } })).toThrow(/LIVEKIT_API_SECRET/);
  });

  it('uses the LiveKit dev credentials in dev mode', () => {
    expect([...loadConfig({ env: {}, dev: true }).keys]).toEqual([['devkey', 'secret']]);
  });

  it('merges LIVEKIT_KEYS with the single pair', () => {
    const config = loadConfig({ env: { ...credentials, LIVEKIT_KEYS: 'APIegress: other-secret' } });
    expect(config.keys.get('APIegress')).toBe('other-secret');
    expect(config.keys.get('APIkey')).toBe('a-secret');
  });

  it('lets flags win over the environment', () => {
    expect(loadConfig({ env: { ...credentials, PORT: '9000' }, flags: { PORT: '9001' } }).port).toBe(9001);
  });

  it.each([
    ['MAX_BODY_BYTES', '512KiB', 'maxBodyBytes', 512 * 1024],
    ['MAX_BODY_BYTES', '2048', 'maxBodyBytes', 2048],
    ['CLOCK_TOLERANCE', '2m', 'clockToleranceSeconds', 120],
    ['CLOCK_TOLERANCE', '30', 'clockToleranceSeconds', 30],
    ['INLINE_ACTION_TIMEOUT', '500ms', 'inlineActionTimeoutMs', 500],
    ['MIGRATE_ON_START', 'false', 'migrateOnStart', false],
    ['MIGRATE_ON_START', '1', 'migrateOnStart', true],
  ])('reads %s=%s', (name, value, field, expected) => {
    expect(loadConfig({ env: { ...credentials, [name]: value } })).toHaveProperty(field, expected);
  });

  it.each([
    ['PORT', 'eighty', /PORT is "eighty"/],
    ['MAX_BODY_BYTES', 'big', /MAX_BODY_BYTES/],
    ['CLOCK_TOLERANCE', 'soon', /CLOCK_TOLERANCE/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['WEBHOOK_PATH', 'webhooks', /WEBHOOK_PATH/],
    ['MIGRATE_ON_START', 'later', /MIGRATE_ON_START is "later": expected true or false/],
  ])('rejects %s=%s with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ env: { ...credentials, [name]: value } })).toThrow(message);
  });

  it('reads .env, with the environment winning over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PORT=9100\nLOG_LEVEL=debug\n');
      expect(readEnvironment({ PORT: '9200' }, dir)).toMatchObject({ PORT: '9200', LOG_LEVEL: 'debug' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('the resolver every command uses', () => {
    it('takes a flag over the environment over .env over the default, setting by setting', () => {
      const dir = mkdtempSync(join(tmpdir(), 'switchboard-env-'));
      try {
        writeFileSync(join(dir, '.env'), 'PORT=9100\nLOG_LEVEL=debug\nRULES_DIR=./from-dotenv\n');
        const env = readEnvironment({ PORT: '9200', RULES_DIR: './from-env' }, dir);
        const settings = resolveSettings({ flags: { RULES_DIR: './from-flag' }, env });
        expect(settings).toMatchObject({
          RULES_DIR: './from-flag',
          PORT: '9200',
          LOG_LEVEL: 'debug',
          PLUGINS_DIR: './plugins',
          WEBHOOK_PATH: '/api/v1/webhooks/livekit',
          ADMIN_TOKEN: undefined,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('gives loadConfig the same values it gives the commands', () => {
      const flags = { PORT: '9300', DATABASE_URL: 'file:./elsewhere.db' };
      const settings = resolveSettings({ flags, env: credentials });
      const config = loadConfig({ env: credentials, flags });
      expect([config.port, config.databaseUrl, config.rulesDir]).toEqual([Number(settings.PORT), settings.DATABASE_URL, settings.RULES_DIR]);
      expect(loadConfig({ env: settings })).toEqual(config);
    });

    it('derives the default circuit from the CIRCUIT_* defaults', () => {
      expect(DEFAULT_CIRCUIT).toEqual({ consecutiveFailures: 5, failureRatePercent: 50, minimumAttempts: 20, windowMs: 60_000, resetMs: 30_000 });
      expect(loadConfig({ env: credentials }).circuit).toEqual(DEFAULT_CIRCUIT);
    });
  });
});
